namespace Switchboard.Portals.Setup;

/// <summary>
/// Settings of the install flow: where Bitrix24 reaches this server (<c>Switchboard:PublicUrl</c>) and
/// which external lines to add (<c>Switchboard:Setup:Lines</c>). Not validated at start: the journal
/// must take the install before these are filled in; what is missing is recorded on the portal's
/// bind or lines step and the command is retried.
/// </summary>
public sealed class PortalSetupOptions
{
    /// <summary>Configuration section of the setup settings.</summary>
    public const string SectionName = "Switchboard:Setup";

    /// <summary>The setting that holds <see cref="PublicUrl"/>: it belongs to the whole server, not to this section.</summary>
    public const string PublicUrlKey = "Switchboard:PublicUrl";

    /// <summary>The path of the events endpoint under <see cref="PublicUrl"/> (Receiving/EventsEndpoints).</summary>
    public const string EventsPath = "bitrix24/events";

    /// <summary>The absolute URL where Bitrix24 reaches this server, e.g. <c>https://switchboard.example.com/</c>.</summary>
    public string? PublicUrl { get; set; }

    /// <summary>
    /// Longest run of one portal's set-up (default 30 s). The outbox runs a batch's portals side by side
    /// and claims the next batch when all are done, so a portal that answers slowly would hold every
    /// other portal's set-up; past this the run stops and is retried (every step is safe to repeat).
    /// </summary>
    public TimeSpan MaxRunTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The external lines to add to every portal (<c>telephony.externalLine.add</c>).</summary>
    public IList<LineSettings> Lines { get; } = [];

    /// <summary>
    /// The handler URL to bind (<see cref="PublicUrl"/> + <c>bitrix24/events</c>), or null with the
    /// reason, naming the setting. Bitrix24 must reach it from the internet: no localhost, no private
    /// address (REFERENCE.md §1.3 "Network requirements"); that is not checked here, so labs can use loopback.
    /// </summary>
    public (Uri? Handler, string? Problem) EventsHandler()
    {
        if (string.IsNullOrWhiteSpace(PublicUrl))
        {
            return (null, $"{PublicUrlKey} is not set: the absolute URL where Bitrix24 reaches this server (the handler is {PublicUrlKey} + '{EventsPath}').");
        }

        var text = PublicUrl.Trim();
        if (!Uri.TryCreate(text.EndsWith('/') ? text : text + "/", UriKind.Absolute, out var root)
            || root.Scheme is not ("https" or "http") || !string.IsNullOrEmpty(root.Query) || !string.IsNullOrEmpty(root.Fragment))
        {
            return (null, $"{PublicUrlKey} must be an absolute http(s) URL without query, e.g. https://switchboard.example.com/.");
        }

        return (new Uri(root, EventsPath), null);
    }
}

/// <summary>One external line (REFERENCE.md §6.6 <c>telephony.externalLine.add</c>).</summary>
public sealed class LineSettings
{
    /// <summary><c>NUMBER</c>, required: the line's number as calls name it (<c>LINE_NUMBER</c>).</summary>
    public string Number { get; set; } = "";

    /// <summary><c>NAME</c>, optional: what users see.</summary>
    public string? Name { get; set; }

    /// <summary><c>CRM_AUTO_CREATE</c>: create CRM entities for outgoing calls from the Bitrix24 UI; the portal's default (Y) when not set.</summary>
    public bool? CrmAutoCreate { get; set; }
}
