using Microsoft.Extensions.Options;
using Switchboard.Bitrix24.OAuth;
using Switchboard.Bitrix24.Rest;
using Switchboard.Bitrix24.Telephony;

namespace Switchboard.Hosting;

/// <summary>
/// The REST client every side effect on Bitrix24 goes through, with its limits, token refresh and
/// outbound guard (Switchboard.Bitrix24/Rest). One per process, so one leaky bucket per portal.
/// </summary>
public static class Bitrix24RestServices
{
    /// <summary>
    /// Registers <see cref="Bitrix24RestClient"/>, <see cref="TelephonyClient"/> and <see cref="PortalClient"/>
    /// from <c>Switchboard:Bitrix24</c>. The settings are not validated at start: the journal must take
    /// events before the application's client_id and secret are filled in. What is missing is reported
    /// by <see cref="Bitrix24RestOptions.Problems"/> when a command is about to be sent.
    /// </summary>
    public static IServiceCollection AddBitrix24Rest(this IServiceCollection services)
    {
        services.AddOptions<Bitrix24RestOptions>().BindConfiguration(Bitrix24RestOptions.SectionName);
        // On PostgreSQL several instances may send to one portal: they share its bucket in the database.
        services.AddSingleton(sp => new SharedRateGate(sp.GetRequiredService<IOptions<Journal.JournalOptions>>().Value is { UsesPostgres: true } store
            ? new Portals.PostgresPortalRateGate(store.PostgresConnectionString!, sp.GetRequiredService<TimeProvider>())
            : null));
        services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<Bitrix24RestOptions>>().Value;
            // One HttpClient for the process: SocketsHttpHandler pools connections per portal and the
            // connect callback refuses private and metadata addresses (OutboundGuard).
            var http = Bitrix24HttpClientFactory.CreateClient(options);
            return new Bitrix24RestClient(http, sp.GetRequiredService<IPortalCredentials>(), options,
                sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<Bitrix24RestClient>>(),
                sp.GetRequiredService<SharedRateGate>().Gate);
        });
        services.AddSingleton<TelephonyClient>();
        services.AddSingleton<PortalClient>();
        return services;
    }
}

/// <summary>The shared bucket, when there is one (PostgreSQL); disposed with the host.</summary>
internal sealed class SharedRateGate(Portals.PostgresPortalRateGate? gate) : IAsyncDisposable
{
    public Portals.PostgresPortalRateGate? Gate => gate;

    public ValueTask DisposeAsync() => gate?.DisposeAsync() ?? ValueTask.CompletedTask;
}
