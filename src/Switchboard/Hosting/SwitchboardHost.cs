using Microsoft.Extensions.Options;
using Switchboard.Journal;
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
        return services;
    }

    private static IServiceCollection AddJournal(this IServiceCollection services)
    {
        services.AddOptions<JournalOptions>().BindConfiguration(JournalOptions.SectionName)
            .Validate(o => o.MaxBatch > 0 && o.QueueCapacity > 0 && o.BusyTimeoutSeconds > 0, "Switchboard:Store:MaxBatch, QueueCapacity and BusyTimeoutSeconds must be positive.")
            .Validate(o => o.UsesPostgres || !string.IsNullOrWhiteSpace(o.DataDirectory), "Set Switchboard:Store:DataDirectory (or --data) or Switchboard:Store:PostgresConnectionString (or --postgres).")
            .ValidateOnStart();
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<JournalOptions>>().Value.CreateStore());
        services.AddHostedService<JournalInitializer>();
        services.AddSingleton<JournalWriter>();
        services.AddHostedService(sp => sp.GetRequiredService<JournalWriter>());
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
        services.AddSingleton<IInstallVerifier, PolicyOnlyInstallVerifier>();
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
internal sealed partial class JournalInitializer(IJournalStore store, IOptions<JournalOptions> options, TimeProvider time, ILogger<JournalInitializer> logger) : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private Task? _retrying;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var description = options.Value.Describe();
        try
        {
            await store.InitializeAsync(cancellationToken).ConfigureAwait(false);
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
                await store.InitializeAsync(stopping).ConfigureAwait(false);
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
