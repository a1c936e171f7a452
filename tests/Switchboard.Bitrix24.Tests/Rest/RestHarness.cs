using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Switchboard.Bitrix24.OAuth;
using Switchboard.Bitrix24.Rest;

namespace Switchboard.Bitrix24.Tests.Rest;

/// <summary>A REST client wired to a <see cref="FakeBitrix24"/>, with one portal stored.</summary>
public sealed class RestHarness : IDisposable
{
    public const string MemberId = "member-1";
    public const string ClientSecret = "s3cret-client-never-logged";

    public RestHarness(FakeBitrix24 fake, Action<Bitrix24RestOptions>? configure = null, HttpClient? http = null, Uri? endpoint = null)
    {
        Options = new Bitrix24RestOptions
        {
            ClientId = "app.switchboard.test",
            ClientSecret = ClientSecret,
            OAuthServer = fake.BaseUri,
            AllowInsecureHttp = true,
            RequestsPerSecond = 1000,
            Burst = 1000,
            MaxAttempts = 4,
            BaseDelay = TimeSpan.FromMilliseconds(5),
            MaxDelay = TimeSpan.FromMilliseconds(40),
            AttemptTimeout = TimeSpan.FromSeconds(10),
        };
        Options.AllowedNetworks.Add("127.0.0.0/8");
        configure?.Invoke(Options);
        Store.Put(new PortalCredentials(MemberId, endpoint ?? fake.RestEndpoint, "access-1", "refresh-1"));
        Http = http ?? Bitrix24HttpClientFactory.CreateClient(Options);
        Client = new Bitrix24RestClient(Http, Store, Options, TimeProvider.System, Logs);
    }

    public Bitrix24RestOptions Options { get; }
    public InMemoryPortalCredentials Store { get; } = new();
    public CapturingLogger<Bitrix24RestClient> Logs { get; } = new();
    public HttpClient Http { get; }
    public Bitrix24RestClient Client { get; }

    /// <summary>Every test that uses the harness also checks that no token or secret reached a log line.</summary>
    public void Dispose()
    {
        Http.Dispose();
        foreach (var secret in new[] { ClientSecret, "access-1", "access-2", "refresh-1", "refresh-2", "upload-auth" })
        {
            Logs.All.Should().NotContain(secret, "tokens and the client secret never appear in logs");
        }
    }
}

/// <summary>Keeps every formatted log line and its structured values, to check that no secret is logged.</summary>
public sealed class CapturingLogger<T> : ILogger<T>
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var values = state is IEnumerable<KeyValuePair<string, object?>> kv ? string.Join(";", kv.Select(p => $"{p.Key}={p.Value}")) : "";
        Lines.Enqueue($"{eventId.Id} {formatter(state, exception)} | {values} | {exception}");
    }

    public string All => string.Join("\n", Lines);
}

/// <summary>A clock that moves only when told.</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
