using System.Diagnostics.CodeAnalysis;
using System.Net;

namespace Switchboard.Bench;

/// <summary>
/// The only addresses the bench talks to or listens on: a load generator pointed at the wrong host
/// is a denial-of-service tool, so anything that is not this machine is refused before a socket opens.
/// </summary>
internal static class LoopbackUrl
{
    public const string Rule = "only loopback addresses are allowed (127.0.0.0/8, [::1], localhost)";

    public static bool TryParse(string? text, [NotNullWhen(true)] out Uri? uri, [NotNullWhen(false)] out string? error)
    {
        uri = null;
        if (string.IsNullOrWhiteSpace(text) || !Uri.TryCreate(text.Trim(), UriKind.Absolute, out var parsed))
        {
            error = $"'{text}' is not an absolute URL such as http://127.0.0.1:5000.";
            return false;
        }

        if (parsed.Scheme != Uri.UriSchemeHttp && parsed.Scheme != Uri.UriSchemeHttps)
        {
            error = $"'{text}' is not an http:// or https:// URL.";
            return false;
        }

        if (!IsLoopbackHost(parsed.Host))
        {
            error = $"Refusing '{parsed.Host}': {Rule}. The benchmark never sends load to another machine.";
            return false;
        }

        uri = parsed;
        error = null;
        return true;
    }

    /// <summary>A literal loopback IP or the name <c>localhost</c>; no DNS lookup, so a name cannot be made to point elsewhere.</summary>
    public static bool IsLoopbackHost(string host) =>
        string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
}
