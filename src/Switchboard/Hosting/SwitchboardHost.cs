using Microsoft.Extensions.Options;
using Switchboard.Calls;
using Switchboard.Journal;
using Switchboard.Outbox;
using Switchboard.Pbx;
using Switchboard.Portals;
using Switchboard.Portals.Setup;
using Switchboard.Receiving;

namespace Switchboard.Hosting;

/// <summary>Builds the server: the same wiring for <c>switchboard serve</c> and for the tests' loopback servers.</summary>
public static class SwitchboardHost
{
    /// <summary>Builds the web application from ASP.NET Core-style arguments and optional overrides (highest precedence).</summary>
    public static WebApplication Build(string[] args, IReadOnlyDictionary<string, string?>? overrides = null, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            // appsettings.json ships beside the binary; relative data paths stay relative to where you run it.
            ContentRootPath = AppContext.BaseDirectory,
        });
        if (overrides is not null)
        {
            builder.Configuration.AddInMemoryCollection(overrides);
        }

        builder.WebHost.ConfigureKestrel((context, k) =>
        {
            k.AddServerHeader = false;
            // Nothing Switchboard accepts is near this size; the events endpoint has its own, lower
            // limit. This bounds what Kestrel drains from a client that keeps sending after a 413.
            k.Limits.MaxRequestBodySize = 1024 * 1024;

            // Set on purpose rather than left to Kestrel's defaults (30 s for headers, 240 bytes/s for
            // bodies): a slow sender holds a connection and its buffers for as long as these allow.
            var receiving = context.Configuration.GetSection(ReceivingOptions.SectionName).Get<ReceivingOptions>() ?? new ReceivingOptions();
            k.Limits.RequestHeadersTimeout = receiving.HeadersTimeout;
            if (receiving.MinBodyBytesPerSecond > 0 && receiving.BodyGracePeriod > TimeSpan.FromSeconds(1))
            {
                k.Limits.MinRequestBodyDataRate = new Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate(receiving.MinBodyBytesPerSecond, receiving.BodyGracePeriod);
            }
        });
        builder.Services.AddProblemDetails();
        builder.Services.AddSwitchboard();
        configure?.Invoke(builder);

        var app = builder.Build();
        // Listen from the start: measurements made before the first /metrics request count too.
        app.Services.GetRequiredService<MetricsCollector>();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.MapEvents();
        app.MapHealth();
        app.MapPbxRoute();
        return app;
    }

    /// <summary>Registers every feature's services.</summary>
    public static IServiceCollection AddSwitchboard(this IServiceCollection services)
    {
        services.AddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.AddSingleton<SwitchboardMetrics>();
        services.AddSingleton<MetricsCollector>();
        services.AddJournal();
        services.AddPortals();
        services.AddReceiving();
        services.AddBitrix24Rest();
        services.AddPortalSetup();
        services.AddCalls();
        services.AddOutbox();
        services.AddPbx();
        return services;
    }

    private static IServiceCollection AddJournal(this IServiceCollection services)
    {
        services.AddOptions<JournalOptions>().BindConfiguration(JournalOptions.SectionName)
            .Validate(o => o.MaxBatch > 0 && o.QueueCapacity > 0 && o.BusyTimeoutSeconds > 0, "Switchboard:Store:MaxBatch, QueueCapacity and BusyTimeoutSeconds must be positive.")
            .Validate(o => o.UsesPostgres || !string.IsNullOrWhiteSpace(o.DataDirectory), "Set Switchboard:Store:DataDirectory (or --data) or Switchboard:Store:PostgresConnectionString (or --postgres).")
            .ValidateOnStart();
        // Portal tokens are encrypted at rest with a key ring in the data directory (or a shared folder).
        services.AddSingleton(sp => new Storage.TokenProtector(sp.GetRequiredService<IOptions<JournalOptions>>().Value.KeyRingPath));
        services.AddSingleton<Storage.UnreadableTokens>();
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<JournalOptions>>().Value.CreateStore(sp.GetRequiredService<Storage.TokenProtector>()));
        // The ledger and the outbox share a database (SQLite: ledger.db beside the journal's file), so a
        // call's change and its commands commit together.
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<JournalOptions>>().Value.CreateOutboxStore());
        services.AddSingleton<IOutboxStore>(sp => sp.GetRequiredService<SqlOutboxStore>());
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<JournalOptions>>().Value.CreateCallStore(sp.GetRequiredService<SqlOutboxStore>()));
        services.AddSingleton<StoresReady>();
        services.AddKeyedSingleton<WorkSignal>(WorkSignal.JournalCommitted);
        // A pulse for the outbox also wakes the PBX lane's worker (Pbx/PbxServices.cs).
        services.AddKeyedSingleton(WorkSignal.OutboxEnqueued, (sp, _) => WorkSignal.Leading(sp.GetRequiredKeyedService<WorkSignal>(WorkSignal.PbxEnqueued)));
        services.AddHostedService<JournalInitializer>();
        services.AddSingleton<JournalFeed>();
        services.AddSingleton<JournalWriter>();
        services.AddHostedService(sp => sp.GetRequiredService<JournalWriter>());
        return services;
    }

    private static IServiceCollection AddCalls(this IServiceCollection services)
    {
        services.AddOptions<LedgerOptions>().BindConfiguration(LedgerOptions.SectionName)
            .Validate(o => o.BatchSize > 0 && o.PollInterval > TimeSpan.Zero && o.PassInterval >= TimeSpan.Zero, "Switchboard:Ledger:BatchSize and PollInterval must be positive, PassInterval not negative.")
            .ValidateOnStart();
        services.AddSingleton<LedgerWorker>();
        services.AddHostedService(sp => sp.GetRequiredService<LedgerWorker>());
        return services;
    }

    private static IServiceCollection AddOutbox(this IServiceCollection services)
    {
        services.AddOptions<OutboxOptions>().BindConfiguration(OutboxOptions.SectionName)
            .Validate(o => o.Problems().Count == 0, "Switchboard:Outbox settings are not valid (BatchSize, MaxAttempts, Lease, RetryBaseDelay, RetryMaxDelay, PollInterval, HeartbeatInterval must be positive, HeartbeatLapse at least three HeartbeatIntervals).")
            .ValidateOnStart();
        services.AddSingleton<IOutboxHandler, TelephonyCommandHandler>();
        services.AddSingleton<StoreClock>();
        services.AddSingleton<OutboxHeartbeat>();
        services.AddHostedService(sp => sp.GetRequiredService<OutboxHeartbeat>());
        services.AddSingleton<OutboxWorker>();
        services.AddHostedService(sp => sp.GetRequiredService<OutboxWorker>());
        return services;
    }

    private static IServiceCollection AddPortals(this IServiceCollection services)
    {
        services.AddOptions<InstallOptions>().BindConfiguration(InstallOptions.SectionName)
            .PostConfigure<IConfiguration>((o, configuration) =>
            {
                // The binder fills an array only from indexed children (AllowedDomains:0, …); also
                // take the plain form, Switchboard__Install__AllowedDomains="a.bitrix24.com,b.bitrix24.com".
                if (configuration[$"{InstallOptions.SectionName}:AllowedDomains"] is { Length: > 0 } plain)
                {
                    o.AllowedDomains = [.. o.AllowedDomains, plain];
                }
            })
            .Validate(o => o.Problems().Count == 0, "Switchboard:Install settings are not valid (VerifyTimeout, MaxPendingPerSender, MaxPending, MaxUnverifiedInstalls, RefusalMemory).")
            .ValidateOnStart();
        services.AddSingleton<InstallPolicy>();
        // Its own connection pool: checks of installs never share the portals' REST client or budget.
        services.AddSingleton(sp =>
        {
            var rest = sp.GetRequiredService<IOptions<Bitrix24.Rest.Bitrix24RestOptions>>().Value;
            return new Bitrix24.OAuth.OAuthServerClient(Bitrix24.Rest.Bitrix24HttpClientFactory.CreateClient(rest), rest, sp.GetRequiredService<TimeProvider>());
        });
        services.AddSingleton<VerificationAdmission>();
        services.AddSingleton<IInstallVerifier, OAuthInstallVerifier>();
        services.AddSingleton<PortalDirectory>();
        services.AddSingleton<EventVerifier>();
        services.AddSingleton<StorePortalCredentials>();
        services.AddSingleton<Bitrix24.OAuth.IPortalCredentials>(sp => sp.GetRequiredService<StorePortalCredentials>());
        return services;
    }
}

/// <summary>
/// Creates or upgrades the schema before the server takes requests. SQLite either opens or the start
/// fails with its reason (a wrong path is a configuration error). A PostgreSQL server that is not up
/// yet does not stop the start: Switchboard comes up with readiness red, answers events 503, and
/// keeps trying with back-off until the database is there.
/// </summary>
internal sealed partial class JournalInitializer(
    IJournalStore store,
    IOutboxStore outbox,
    SqlCallStore calls,
    StoresReady ready,
    IOptions<JournalOptions> options,
    Storage.TokenProtector tokens,
    StorePortalCredentials credentials,
    OutboxHeartbeat heartbeat,
    TimeProvider time,
    ILogger<JournalInitializer> logger) : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private Task? _retrying;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var description = options.Value.Describe();
        // The key ring's first key now: a folder that cannot be written stops the start, not an install.
        tokens.EnsureKey();
        if (options.Value.UsesPostgres && string.IsNullOrWhiteSpace(options.Value.KeyRingDirectory))
        {
            LogOwnKeyRing(logger, tokens.KeyRingFolder);
        }

        try
        {
            await InitializeAllAsync(cancellationToken).ConfigureAwait(false);
            LogReady(logger, description);
        }
        catch (Exception ex) when (options.Value.UsesPostgres && ex is System.Data.Common.DbException or TimeoutException or System.Net.Sockets.SocketException or IOException)
        {
            LogNotYet(logger, description, ex.Message);
            _retrying = RetryAsync(description, _stopping.Token);
        }
    }

    private async Task RetryAsync(string description, CancellationToken stopping)
    {
        var delay = TimeSpan.FromMilliseconds(500);
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(delay, time, stopping).ConfigureAwait(false);
                await InitializeAllAsync(stopping).ConfigureAwait(false);
                LogReady(logger, description);
                return;
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is System.Data.Common.DbException or TimeoutException or System.Net.Sockets.SocketException or IOException)
            {
                LogNotYet(logger, description, ex.Message);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            }
        }
    }

    // The journal first: the ledger reads its events table. Each step is idempotent, so a retry after a
    // failure halfway simply runs them all again.
    private async Task InitializeAllAsync(CancellationToken cancellationToken)
    {
        await store.InitializeAsync(cancellationToken).ConfigureAwait(false);
        await outbox.InitializeAsync(cancellationToken).ConfigureAwait(false);
        await calls.InitializeAsync(cancellationToken).ConfigureAwait(false);
        // Before any worker claims: a crashed run's claims are released now, not when their lease ends.
        await heartbeat.StartInstanceAsync(cancellationToken).ConfigureAwait(false);
        ready.Set();
        try
        {
            await credentials.CheckStoredAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (System.Data.Common.DbException ex)
        {
            // Only a look ahead: each portal's tokens are tried again when its work needs them.
            LogCheckFailed(logger, ex.Message);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_retrying is not null)
        {
            await _retrying.ConfigureAwait(false);
        }
    }

    public void Dispose() => _stopping.Dispose();

    [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "Journal ready: {Store}")]
    private static partial void LogReady(ILogger logger, string store);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Portal tokens are encrypted with the key ring in {KeyRingFolder}, this instance's own: with several instances on this PostgreSQL database, set Switchboard:Store:KeyRingDirectory on each to one shared folder, or each reads only the tokens it wrote")]
    private static partial void LogOwnKeyRing(ILogger logger, string keyRingFolder);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "The stored portal tokens were not checked at start: {Error}")]
    private static partial void LogCheckFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Error, Message = "Journal store {Store} not reachable yet, events are answered 503 until it is: {Error}")]
    private static partial void LogNotYet(ILogger logger, string store, string error);
}
