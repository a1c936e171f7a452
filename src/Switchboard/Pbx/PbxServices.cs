using Microsoft.Extensions.Options;
using Switchboard.Hosting;
using Switchboard.Outbox;

namespace Switchboard.Pbx;

/// <summary>Registers the PBX connector.</summary>
public static class PbxServices
{
    /// <summary>The PBX settings, the connectors, the originate handler and its own outbox lane, the recording watcher.</summary>
    public static IServiceCollection AddPbx(this IServiceCollection services)
    {
        services.AddOptions<PbxOptions>().BindConfiguration(PbxOptions.SectionName)
            .Validate(o => o.Problems().Count == 0, "Switchboard:Pbx settings are not valid; see the log line above or `switchboard pbx list`.")
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<PbxOptions>, PbxOptionsValidator>();
        services.AddSingleton<RecordingWatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<RecordingWatcher>());
        services.AddSingleton<PbxRegistry>();
        services.AddSingleton<PbxWorker>();
        services.AddHostedService(sp => sp.GetRequiredService<PbxWorker>());
        services.AddSingleton<OriginateHandler>();
        services.AddSingleton<ResponsibleRouter>();
        services.AddSingleton<IOutboxHandler>(sp => sp.GetRequiredService<OriginateHandler>());

        // Originates are claimed by a worker of their own (see OutboxLane), only while this instance
        // holds a PBX connection, and woken with every enqueue.
        services.AddKeyedSingleton<WorkSignal>(WorkSignal.PbxEnqueued);
        services.AddKeyedSingleton(PbxLaneKey, (sp, _) => ActivatorUtilities.CreateInstance<OutboxWorker>(sp,
            new OutboxLane("pbx", OutboxKinds.IsPbx, () => sp.GetRequiredService<PbxRegistry>().CanOriginate, sp.GetRequiredKeyedService<WorkSignal>(WorkSignal.PbxEnqueued))));
        // Not AddHostedService: it adds a hosted service only once per implementation type, and the
        // Bitrix24 lane's worker is an OutboxWorker too.
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredKeyedService<OutboxWorker>(PbxLaneKey));
        return services;
    }

    /// <summary>The key of the originate lane's <see cref="OutboxWorker"/>.</summary>
    public const string PbxLaneKey = "pbx";

    /// <summary>Names every wrong setting in the start-up failure, not only that one is wrong.</summary>
    private sealed class PbxOptionsValidator : IValidateOptions<PbxOptions>
    {
        public ValidateOptionsResult Validate(string? name, PbxOptions options) =>
            options.Problems() is { Count: > 0 } problems ? ValidateOptionsResult.Fail(problems) : ValidateOptionsResult.Success;
    }
}
