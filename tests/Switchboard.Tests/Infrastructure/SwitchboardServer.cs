using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Switchboard.Hosting;
using Switchboard.Journal;

namespace Switchboard.Tests.Infrastructure;

/// <summary>
/// The real server, built exactly as <c>switchboard serve</c> builds it, on Kestrel on a free
/// loopback port, with a SQLite file in a temp folder (or a PostgreSQL database). Logs are captured.
/// </summary>
public sealed class SwitchboardServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly TempDirectory? _data;

    private SwitchboardServer(WebApplication app, TempDirectory? data, CapturingLoggerProvider logs)
    {
        _app = app;
        _data = data;
        Logs = logs;
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        BaseAddress = new Uri(address);
        Client = new HttpClient { BaseAddress = BaseAddress };
    }

    public Uri BaseAddress { get; }

    public HttpClient Client { get; }

    public CapturingLoggerProvider Logs { get; }

    public IServiceProvider Services => _app.Services;

    public IJournalStore Store => Services.GetRequiredService<IJournalStore>();

    public string? DataDirectory => _data?.Path;

    /// <summary>Starts a server on SQLite in a new temp folder, or on the given PostgreSQL database.</summary>
    public static async Task<SwitchboardServer> StartAsync(string? postgres = null, IReadOnlyDictionary<string, string?>? settings = null, string? dataDirectory = null)
    {
        var data = postgres is null && dataDirectory is null ? new TempDirectory() : null;
        // Installs are proven at an OAuth server: the test one, unless the settings name another.
        var overrides = TestOAuth.Settings();
        overrides["urls"] = "http://127.0.0.1:0";
        overrides["Logging:LogLevel:Default"] = "Debug";
        overrides["Logging:LogLevel:Microsoft"] = "Warning";
        if (postgres is not null)
        {
            overrides["Switchboard:Store:PostgresConnectionString"] = postgres;
        }
        else
        {
            overrides["Switchboard:Store:DataDirectory"] = dataDirectory ?? data!.Path;
        }

        foreach (var (k, v) in settings ?? new Dictionary<string, string?>())
        {
            overrides[k] = v;
        }

        var logs = new CapturingLoggerProvider();
        var app = SwitchboardHost.Build([], overrides, builder =>
        {
            builder.Logging.ClearProviders();
            builder.Logging.AddProvider(logs);
        });
        await app.StartAsync();
        return new SwitchboardServer(app, data, logs);
    }

    /// <summary>POSTs a form body to the events endpoint.</summary>
    public Task<HttpResponseMessage> PostFormAsync(string body, string contentType = "application/x-www-form-urlencoded")
    {
        var content = new StringContent(body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return Client.PostAsync("/bitrix24/events", content);
    }

    public Task<HttpResponseMessage> PostJsonAsync(string json) => PostFormAsync(json, "application/json");

    /// <summary>POSTs raw bytes as a form body (for bodies no string can hold).</summary>
    public Task<HttpResponseMessage> PostFormBytesAsync(byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/x-www-form-urlencoded");
        return Client.PostAsync("/bitrix24/events", content);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _data?.Dispose();
    }
}
