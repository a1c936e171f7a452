using System.Text.RegularExpressions;
using Switchboard.Asterisk.Session;

namespace Switchboard.Pbx;

/// <summary>The PBXes Switchboard drives (section <c>Switchboard:Pbx</c>).</summary>
public sealed class PbxOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Switchboard:Pbx";

    /// <summary>Asterisk servers by name (<c>Switchboard:Pbx:Asterisk:office:Host</c>); the name is what <c>switchboard pbx show</c> takes.</summary>
    public Dictionary<string, AsteriskPbxOptions> Asterisk { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// How long an instance holds a PBX's connection without renewing it. Another instance takes over
    /// once it lapses, so this bounds the takeover after a crash; it is renewed every third of it.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(9);

    /// <summary>The same user clicking the same number again within this time rings once.</summary>
    public TimeSpan RepeatClickWindow { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The country of numbers written without a country code (ISO 3166: <c>RU</c>, <c>US</c>, <c>DE</c>); unset, they are kept as their digits.</summary>
    public string? DefaultCountry { get; set; }

    /// <summary>Numbers of at most this many digits (and no <c>+</c>) are internal extensions, never public numbers.</summary>
    public int MaxExtensionLength { get; set; } = NumberNormalizer.DefaultMaxExtensionLength;

    /// <summary>The shared secret of <c>GET /pbx/route</c>; unset, the endpoint answers 404 as if absent. Never logged.</summary>
    public string? RouteSecret { get; set; }

    /// <summary>How long <c>GET /pbx/route</c> waits for the portal before it answers "no preference": the caller is waiting.</summary>
    public TimeSpan RouteTimeout { get; set; } = TimeSpan.FromSeconds(1.5);

    /// <summary>How long a route answer (an extension or "nobody") is reused for the same number.</summary>
    public TimeSpan RouteCacheTime { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Every setting that is wrong, in words; empty when all are valid.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (LeaseDuration < TimeSpan.FromSeconds(1))
        {
            problems.Add($"{SectionName}:LeaseDuration must be at least 1 s.");
        }

        if (DefaultCountry is { Length: > 0 } country && !NumberNormalizer.IsKnownRegion(country))
        {
            problems.Add($"{SectionName}:DefaultCountry '{country}' is not a known two-letter country code (ISO 3166, e.g. RU, US, DE).");
        }

        if (MaxExtensionLength is < 1 or > 10)
        {
            problems.Add($"{SectionName}:MaxExtensionLength must be between 1 and 10.");
        }

        if (RouteTimeout <= TimeSpan.Zero || RouteCacheTime < TimeSpan.Zero)
        {
            problems.Add($"{SectionName}:RouteTimeout must be positive and RouteCacheTime not negative.");
        }

        foreach (var (name, pbx) in Asterisk)
        {
            problems.AddRange(pbx.Problems($"{SectionName}:Asterisk:{name}"));
        }

        return problems;
    }
}

/// <summary>One Asterisk reached over AMI (section <c>Switchboard:Pbx:Asterisk:NAME</c>).</summary>
public sealed class AsteriskPbxOptions
{
    /// <summary>AMI host (manager.conf <c>bindaddr</c>).</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>AMI port (manager.conf <c>port</c>).</summary>
    public int Port { get; set; } = 5038;

    /// <summary>The manager.conf user.</summary>
    public string Username { get; set; } = string.Empty;

    /// <summary>Its secret; never logged or shown.</summary>
    public string Secret { get; set; } = string.Empty;

    /// <summary><c>Md5</c> (the challenge login: the secret never crosses the network) or <c>Plain</c>.</summary>
    public AmiAuthType AuthType { get; set; } = AmiAuthType.Md5;

    /// <summary>The portal (member_id) this PBX serves; optional when exactly one portal is installed.</summary>
    public string? MemberId { get; set; }

    /// <summary>The channel the Originate rings first, the user's phone: <c>{extension}</c> is replaced.</summary>
    public string OriginateChannel { get; set; } = "Local/{extension}@from-internal";

    /// <summary>Where the answered user's channel goes to dial the customer's number.</summary>
    public string OriginateContext { get; set; } = "from-internal";

    /// <summary>How long the user's phone rings before the click counts as not answered.</summary>
    public TimeSpan OriginateTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How late after the click a call may still be placed; later it is given up, never made minutes late.</summary>
    public TimeSpan OriginateDeadline { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How the extension is read from a channel name: the first group of this regular expression. The
    /// caller id cannot be trusted for it: on a ring group's legs it is the DID (Asterisk 22 sends
    /// <c>DestCallerIDNum</c> = the DID and the phone only in <c>DestChannel</c>).
    /// </summary>
    public string ExtensionPattern { get; set; } = @"^(?:PJSIP|SIP|IAX2|Local)/(\d+)";

    /// <summary>The channel variable that carries the CALL_ID on originated calls.</summary>
    public string CallIdVariable { get; set; } = "SB_CALL_ID";

    /// <summary>The caller id shown on the user's phone while it rings; <c>{number}</c> is the customer's number.</summary>
    public string OriginateCallerId { get; set; } = "{number}";

    /// <summary>Recording paths as the PBX names them start with this prefix…</summary>
    public string? RecordingPathFrom { get; set; }

    /// <summary>…and are read by Switchboard under this one (a mounted share of the PBX's monitor directory).</summary>
    public string? RecordingPathTo { get; set; }

    /// <summary>A recording is complete once its size has not changed for this long after the call ended (no AMI event says so).</summary>
    public TimeSpan RecordingSettleTime { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>How long to wait for a recording file to appear or settle before giving up on it (noted on the call).</summary>
    public TimeSpan RecordingGiveUpAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The country of this PBX's numbers when it differs from <see cref="PbxOptions.DefaultCountry"/>.</summary>
    public string? DefaultCountry { get; set; }

    /// <summary>How a number goes into the Originate's <c>Exten</c>: what this PBX's outbound routes match.</summary>
    public DialFormat DialFormat { get; set; } = DialFormat.E164;

    /// <summary>Rewrites applied, in order, to a number this PBX's trunks send before it is normalised (e.g. <c>^(\d{10})$</c> → <c>+7$1</c>).</summary>
    public List<NumberRule> InboundRules { get; set; } = [];

    /// <summary>This PBX's country: its own, else <paramref name="fallback"/>.</summary>
    public string? CountryOr(string? fallback) => DefaultCountry is { Length: > 0 } own ? own : fallback is { Length: > 0 } ? fallback : null;

    private IReadOnlyList<(Regex Pattern, string Replacement)>? _inbound;

    /// <summary><see cref="InboundRules"/> compiled (with a match timeout: they come from settings).</summary>
    public IReadOnlyList<(Regex Pattern, string Replacement)> CompiledInboundRules() =>
        _inbound ??= [.. InboundRules.Select(r => (new Regex(r.Pattern, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100)), r.Replacement ?? string.Empty))];

    /// <summary>Ask Asterisk to send only the events the connector uses (the <c>Filter</c> action, Asterisk 20.11 / 21.6 / 22.1 and later).</summary>
    public bool FilterEvents { get; set; } = true;

    /// <summary>The connection's settings for the AMI library.</summary>
    public AmiConnectionOptions ToConnectionOptions() => new()
    {
        Host = Host,
        Port = Port,
        Username = Username,
        Secret = Secret,
        AuthType = AuthType,
    };

    private Regex? _extension;

    /// <summary>The extension in a channel name (<c>PJSIP/101-0000000b</c> → 101), or null.</summary>
    public string? ExtensionOf(string? channel)
    {
        if (string.IsNullOrEmpty(channel))
        {
            return null;
        }

        _extension ??= new Regex(ExtensionPattern, RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture, TimeSpan.FromMilliseconds(100));
        var m = _extension.Match(channel);
        return m.Success && m.Groups.Count > 1 && m.Groups[1].Success ? m.Groups[1].Value : null;
    }

    /// <summary>A recording path as Switchboard reads it.</summary>
    public string MapRecordingPath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return RecordingPathFrom is { Length: > 0 } from && path.StartsWith(from, StringComparison.Ordinal)
            ? (RecordingPathTo ?? string.Empty) + path[from.Length..]
            : path;
    }

    /// <summary>Every setting of this PBX that is wrong, in words.</summary>
    public IReadOnlyList<string> Problems(string section)
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Host))
        {
            problems.Add($"{section}:Host is required.");
        }

        if (Port is < 1 or > 65535)
        {
            problems.Add($"{section}:Port must be between 1 and 65535.");
        }

        if (string.IsNullOrWhiteSpace(Username) || string.IsNullOrEmpty(Secret))
        {
            problems.Add($"{section}:Username and {section}:Secret are required (a manager.conf user).");
        }

        if (!OriginateChannel.Contains("{extension}", StringComparison.Ordinal))
        {
            problems.Add($"{section}:OriginateChannel must contain {{extension}}, e.g. Local/{{extension}}@from-internal.");
        }

        if (string.IsNullOrWhiteSpace(OriginateContext))
        {
            problems.Add($"{section}:OriginateContext is required.");
        }

        if (OriginateTimeout <= TimeSpan.Zero || OriginateDeadline <= TimeSpan.Zero || RecordingSettleTime <= TimeSpan.Zero || RecordingGiveUpAfter <= TimeSpan.Zero)
        {
            problems.Add($"{section}: OriginateTimeout, OriginateDeadline, RecordingSettleTime and RecordingGiveUpAfter must be positive.");
        }

        if (DefaultCountry is { Length: > 0 } country && !NumberNormalizer.IsKnownRegion(country))
        {
            problems.Add($"{section}:DefaultCountry '{country}' is not a known two-letter country code (ISO 3166, e.g. RU, US, DE).");
        }

        for (var i = 0; i < InboundRules.Count; i++)
        {
            try
            {
                _ = new Regex(InboundRules[i].Pattern ?? string.Empty, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
                if (string.IsNullOrEmpty(InboundRules[i].Pattern))
                {
                    problems.Add($"{section}:InboundRules:{i}:Pattern is required.");
                }
            }
            catch (ArgumentException ex)
            {
                problems.Add($"{section}:InboundRules:{i}:Pattern is not a valid regular expression: {ex.Message}");
            }
        }

        try
        {
            if (new Regex(ExtensionPattern, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100)).GetGroupNumbers().Length < 2)
            {
                problems.Add($"{section}:ExtensionPattern needs a group that captures the extension, e.g. ^(?:PJSIP|SIP|IAX2|Local)/(\\d+).");
            }
        }
        catch (ArgumentException ex)
        {
            problems.Add($"{section}:ExtensionPattern is not a valid regular expression: {ex.Message}");
        }

        return problems;
    }
}
