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

        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            // Nothing Switchboard accepts is near this size; the events endpoint has its own, lower
            // limit. This bounds what Kestrel drains from a client that keeps sending after a 413.
            k.Limits.MaxRequestBodySize = 1024 * 1024;
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
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<JournalOptions>>().Value.CreateStore());
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
            .Validate(o => o.Problems().Count == 0, "Switchboard:Outbox settings are not valid (BatchSize, MaxAttempts, Lease, RetryBaseDelay, RetryMaxDelay, PollInterval must be positive).")
            .ValidateOnStart();
        services.AddSingleton<IOutboxHandler, TelephonyCommandHandler>();
        services.AddSingleton<StoreClock>();
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
            .ValidateOnStart();
        services.AddSingleton<InstallPolicy>();
        services.AddSingleton<IInstallVerifier, PortalInstallVerifier>();
        services.AddSingleton<PortalDirectory>();
        services.AddSingleton<EventVerifier>();
        services.AddSingleton<Bitrix24.OAuth.IPortalCredentials, StorePortalCredentials>();
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
    TimeProvider time,
    ILogger<JournalInitializer> logger) : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private Task? _retrying;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var description = options.Value.Describe();
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
        ready.Set();
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

    [LoggerMessage(EventId = 2002, Level = LogLevel.Error, Message = "Journal store {Store} not reachable yet, events are answered 503 until it is: {Error}")]
    private static partial void LogNotYet(ILogger logger, string store, string error);
}
