namespace Switchboard.Bitrix24.Rest;

/// <summary>Settings of the REST client, OAuth refresh, limits and outbound guard.</summary>
public sealed class Bitrix24RestOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Switchboard:Bitrix24";

    /// <summary>The application's <c>client_id</c>.</summary>
    public string ClientId { get; set; } = "";

    /// <summary>The application's <c>client_secret</c>. Sent only to the OAuth server, never logged,
    /// never in an error (EN-docs settings/oauth/index.md).</summary>
    public string ClientSecret { get; set; } = "";

    /// <summary>The OAuth server. Configuration only, never taken from an event
    /// (the SDK's west server; the east one is https://oauth.bitrix24.tech/).</summary>
    public Uri OAuthServer { get; set; } = new("https://oauth.bitrix.info/");

    /// <summary>Leaky-bucket drain rate per portal (EN-docs limits.md: 2/s, Enterprise 5/s).</summary>
    public double RequestsPerSecond { get; set; } = 2;

    /// <summary>Leaky-bucket size per portal (EN-docs limits.md: 50, Enterprise 250).</summary>
    public int Burst { get; set; } = 50;

    /// <summary>
    /// Requests of <see cref="Burst"/> left unused (default 2): the client counts a request when it
    /// leaves, the portal when it arrives, and arrivals can bunch. At 2 requests/s, 2 requests of
    /// headroom absorb a second of arrival jitter. Measured: 1 of 201 batch requests refused 503 over a
    /// 75 s drain without it (docs/BENCHMARKS.md).
    /// </summary>
    public int BurstHeadroom { get; set; } = 2;

    /// <summary>Attempts per call, counting the first; transient failures are retried up to this.</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>First back-off delay; doubled per attempt, with jitter.</summary>
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Upper bound of one back-off delay.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Time allowed for one HTTP attempt. The cloud stops a request after 60 s (EN-docs limits.md).</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(65);

    /// <summary>Longest wait for a method's operating-time budget to reset inside a call. A longer pause
    /// is returned as an <see cref="RestErrorKind.OperationTimeLimit"/> failure with <see cref="RestError.RetryAt"/>,
    /// so a worker can park the job instead of holding a thread for ten minutes.</summary>
    public TimeSpan MaxOperatingPause { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The pause after a 429 when no <c>operating_reset_at</c> is known: the docs say the block
    /// is lifted automatically after 10 minutes (RU-docs system-errors).</summary>
    public TimeSpan DefaultOperatingPause { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Allows http:// endpoints. Off: only https is called. For tests and on-premise portals.</summary>
    public bool AllowInsecureHttp { get; set; }

    /// <summary>CIDR ranges an operator allows even though they are private or loopback
    /// (e.g. <c>10.20.0.0/16</c> for an on-premise portal; tests use <c>127.0.0.0/8</c>).</summary>
    public IList<string> AllowedNetworks { get; } = [];

    /// <summary>The User-Agent sent with every request (EN-docs general-principles.md asks for a meaningful one).</summary>
    public string UserAgent { get; set; } = "Switchboard/1.0 (Bitrix24-PBX telephony bridge; +https://github.com/switchboard)";

    /// <summary>What is wrong with these settings, each naming the setting to fix; empty when usable.
    /// For <c>ValidateOnStart</c> in the server. Never prints the secret.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(ClientId))
        {
            problems.Add($"{SectionName}:{nameof(ClientId)} is not set (the application's client_id).");
        }

        if (string.IsNullOrWhiteSpace(ClientSecret))
        {
            problems.Add($"{SectionName}:{nameof(ClientSecret)} is not set (the application's client_secret).");
        }

        if (OAuthServer is not { IsAbsoluteUri: true } || (OAuthServer.Scheme != Uri.UriSchemeHttps && !AllowInsecureHttp))
        {
            problems.Add($"{SectionName}:{nameof(OAuthServer)} must be an absolute https URL, e.g. https://oauth.bitrix.info/.");
        }

        if (RequestsPerSecond <= 0 || Burst < 1)
        {
            problems.Add($"{SectionName}:{nameof(RequestsPerSecond)} must be > 0 and {nameof(Burst)} >= 1.");
        }

        if (MaxAttempts < 1)
        {
            problems.Add($"{SectionName}:{nameof(MaxAttempts)} must be >= 1.");
        }

        foreach (var network in AllowedNetworks)
        {
            if (!System.Net.IPNetwork.TryParse(network, out _))
            {
                problems.Add($"{SectionName}:{nameof(AllowedNetworks)} holds '{network}', which is not a CIDR range like 10.20.0.0/16.");
            }
        }

        return problems;
    }
}
