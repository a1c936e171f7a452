using Microsoft.Extensions.Options;
using Switchboard.Bitrix24.Events;

namespace Switchboard.Portals;

/// <summary>
/// Checks an ONAPPINSTALL (or a token-changing ONAPPUPDATE) against <see cref="InstallOptions"/>: the
/// portal's domain must be allowed, and its client_endpoint must be https on that same host, because
/// that endpoint is where Switchboard will later send the portal's tokens.
/// </summary>
public sealed class InstallPolicy(IOptionsMonitor<InstallOptions> options)
{
    /// <summary>Null when the install is acceptable; otherwise why not, in words for an operator.</summary>
    public string? Check(EventAuth auth)
    {
        ArgumentNullException.ThrowIfNull(auth);
        if (string.IsNullOrWhiteSpace(auth.Domain))
        {
            return "The install has no auth[domain].";
        }

        if (!TryParseDomain(auth.Domain, out var host, out var port))
        {
            return "auth[domain] is not a host name.";
        }

        var patterns = options.CurrentValue.EffectiveDomains();
        if (!patterns.Any(p => Matches(p, host)))
        {
            return $"The portal domain '{host}' is not in Switchboard:Install:AllowedDomains.";
        }

        if (string.IsNullOrWhiteSpace(auth.ClientEndpoint) || !Uri.TryCreate(auth.ClientEndpoint, UriKind.Absolute, out var endpoint))
        {
            return "The install has no valid auth[client_endpoint].";
        }

        var insecure = endpoint.Scheme == Uri.UriSchemeHttp && options.CurrentValue.AllowInsecureHttp;
        if (endpoint.Scheme != Uri.UriSchemeHttps && !insecure)
        {
            return "auth[client_endpoint] must be an https URL.";
        }

        if (!string.Equals(endpoint.IdnHost, host, StringComparison.OrdinalIgnoreCase) || endpoint.Port != (port ?? (insecure ? 80 : 443)))
        {
            return $"auth[client_endpoint] must be on the portal's own host '{host}{(port is null ? "" : $":{port}")}'.";
        }

        if (!string.IsNullOrEmpty(endpoint.UserInfo) || !string.IsNullOrEmpty(endpoint.Query) || !string.IsNullOrEmpty(endpoint.Fragment))
        {
            return "auth[client_endpoint] must be a plain https URL (no user, query or fragment).";
        }

        return null;
    }

    /// <summary>
    /// Checks the client_endpoint the OAuth server named for a proven install: its host must be
    /// allowed, and it must be https (or http where allowed). Null when acceptable, with the portal's
    /// domain (host, and port when not the default) in <paramref name="domain"/>.
    /// </summary>
    public string? CheckEndpoint(string? clientEndpoint, out string domain)
    {
        domain = string.Empty;
        if (string.IsNullOrWhiteSpace(clientEndpoint) || !Uri.TryCreate(clientEndpoint, UriKind.Absolute, out var endpoint)
            || endpoint.HostNameType is not (UriHostNameType.Dns or UriHostNameType.IPv4 or UriHostNameType.IPv6))
        {
            return "The OAuth server named no valid client_endpoint.";
        }

        var host = endpoint.IdnHost.ToLowerInvariant();
        if (!options.CurrentValue.EffectiveDomains().Any(p => Matches(p, host)))
        {
            return $"The OAuth server names the portal '{host}', which is not in Switchboard:Install:AllowedDomains.";
        }

        var insecure = endpoint.Scheme == Uri.UriSchemeHttp && options.CurrentValue.AllowInsecureHttp;
        if (endpoint.Scheme != Uri.UriSchemeHttps && !insecure)
        {
            return "The client_endpoint the OAuth server names is not https.";
        }

        if (!string.IsNullOrEmpty(endpoint.UserInfo) || !string.IsNullOrEmpty(endpoint.Query) || !string.IsNullOrEmpty(endpoint.Fragment))
        {
            return "The client_endpoint the OAuth server names is not a plain URL.";
        }

        domain = endpoint.IsDefaultPort ? host : $"{host}:{endpoint.Port}";
        return null;
    }

    /// <summary>Wildcard <c>*.example.com</c> matches any subdomain of example.com, not example.com itself; a lone <c>*</c> matches every host.</summary>
    public static bool Matches(string pattern, string host)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(host);
        if (pattern == "*")
        {
            return true;
        }

        if (pattern.StartsWith("*.", StringComparison.Ordinal))
        {
            var suffix = pattern[1..]; // ".example.com"
            return host.Length > suffix.Length && host.EndsWith(suffix, StringComparison.OrdinalIgnoreCase);
        }

        return string.Equals(pattern, host, StringComparison.OrdinalIgnoreCase);
    }

    private static bool TryParseDomain(string domain, out string host, out int? port)
    {
        host = string.Empty;
        port = null;
        // auth[domain] is a bare host, sometimes with a port for on-premise portals.
        if (!Uri.TryCreate("https://" + domain.Trim(), UriKind.Absolute, out var uri)
            || uri.AbsolutePath != "/" || !string.IsNullOrEmpty(uri.UserInfo) || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment)
            || uri.HostNameType is not (UriHostNameType.Dns or UriHostNameType.IPv4 or UriHostNameType.IPv6))
        {
            return false;
        }

        host = uri.IdnHost.ToLowerInvariant();
        port = uri.IsDefaultPort ? null : uri.Port;
        return true;
    }
}
