using Switchboard.Outbox;

namespace Switchboard.Portals.Setup;

/// <summary>Registers the install flow.</summary>
public static class PortalSetupServices
{
    /// <summary>
    /// Registers <see cref="PortalSetupHandler"/> for <see cref="OutboxKinds.PortalSetup"/> and its
    /// settings from <c>Switchboard:PublicUrl</c> and <c>Switchboard:Setup</c>.
    /// </summary>
    public static IServiceCollection AddPortalSetup(this IServiceCollection services)
    {
        services.AddOptions<PortalSetupOptions>().BindConfiguration(PortalSetupOptions.SectionName)
            .PostConfigure<IConfiguration>((o, configuration) => o.PublicUrl = configuration[PortalSetupOptions.PublicUrlKey] ?? o.PublicUrl);
        services.AddSingleton<IOutboxHandler, PortalSetupHandler>();
        return services;
    }
}
