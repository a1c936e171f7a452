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
