namespace Switchboard.Portals;

/// <summary>
/// Which ONAPPINSTALL events are accepted. ONAPPINSTALL is the one event that cannot be checked
/// against a stored application token (it brings the token), so it is checked against this policy.
/// </summary>
public sealed class InstallOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Switchboard:Install";

    /// <summary>
    /// The Bitrix24 cloud zones, used when <see cref="AllowedDomains"/> is not set: any cloud portal
    /// may install (a market application's case). A company running Switchboard for itself should
    /// name its own portal instead, e.g. <c>acme.bitrix24.com</c>.
    /// </summary>
    public static IReadOnlyList<string> CloudDomains { get; } =
    [
        "*.bitrix24.com", "*.bitrix24.eu", "*.bitrix24.de", "*.bitrix24.es", "*.bitrix24.fr", "*.bitrix24.it",
        "*.bitrix24.pl", "*.bitrix24.uk", "*.bitrix24.com.br", "*.bitrix24.com.tr", "*.bitrix24.in", "*.bitrix24.id",
        "*.bitrix24.vn", "*.bitrix24.jp", "*.bitrix24.cn", "*.bitrix24.ru", "*.bitrix24.by", "*.bitrix24.kz", "*.bitrix24.ua",
    ];

    /// <summary>
    /// Portal hosts allowed to install: exact hosts (<c>acme.bitrix24.com</c>) or wildcards
    /// (<c>*.bitrix24.com</c>: any subdomain, not the bare domain). A list, or one string separated by
    /// commas or spaces (handy in an environment variable). Empty: <see cref="CloudDomains"/>.
    /// </summary>
    public string[] AllowedDomains { get; set; } = [];

    /// <summary>
    /// Accept an <c>http</c> client_endpoint. Only for the portal emulator and lab set-ups: in
    /// production Switchboard would then send the portal's tokens in clear text. Off by default.
    /// </summary>
    public bool AllowInsecureHttp { get; set; }

    /// <summary>
    /// How long an install or token change waits for the OAuth server's answer to the exchange of its
    /// refresh token, on the request path (default 5 s). An install the server did not answer in time is
    /// kept pending and untrusted; a token change is answered 503 and the portal keeps its token.
    /// </summary>
    public TimeSpan VerifyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Checks at the OAuth server in progress for one sender address at once (default 8); more get 429.</summary>
    public int MaxPendingPerSender { get; set; } = 8;

    /// <summary>Checks at the OAuth server in progress at once, from all senders (default 64); more get 429.</summary>
    public int MaxPending { get; set; } = 64;

    /// <summary>
    /// Installs kept pending and untrusted because they could not be checked (no client credentials
    /// set, or the OAuth server did not answer), at most (default 100); more get 429 until they are
    /// verified or refused.
    /// </summary>
    public int MaxUnverifiedInstalls { get; set; } = 100;

    /// <summary>How long a refused token change is remembered per portal and application token (default 2 min): a flood of one forged token costs one check.</summary>
    public TimeSpan RefusalMemory { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>What is wrong with these settings, each naming the setting to fix.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (VerifyTimeout <= TimeSpan.Zero || VerifyTimeout > TimeSpan.FromMinutes(1))
        {
            problems.Add($"{SectionName}:{nameof(VerifyTimeout)} must be between 0 and 1 minute.");
        }

        if (MaxPendingPerSender < 1 || MaxPending < 1 || MaxUnverifiedInstalls < 0)
        {
            problems.Add($"{SectionName}:{nameof(MaxPendingPerSender)} and {nameof(MaxPending)} must be at least 1, {nameof(MaxUnverifiedInstalls)} at least 0.");
        }

        if (RefusalMemory < TimeSpan.Zero)
        {
            problems.Add($"{SectionName}:{nameof(RefusalMemory)} must not be negative.");
        }

        return problems;
    }

    /// <summary>The patterns in force.</summary>
    public IReadOnlyList<string> EffectiveDomains()
    {
        var list = AllowedDomains
            .SelectMany(d => d.Split([',', ' ', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Select(d => d.ToLowerInvariant())
            .ToArray();
        return list.Length == 0 ? CloudDomains : list;
    }
}
