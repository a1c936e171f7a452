using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Telephony;
using Switchboard.Journal;

namespace Switchboard.Pbx;

/// <summary>
/// <c>GET /pbx/route?number=…</c>: the extension of the CRM user responsible for a caller, for the
/// dialplan's <c>CURL()</c> before it dials (as asterlink's <c>/assigned/</c>). Bitrix24 recommends routing
/// calls with <c>telephony.externalCall.searchCrmEntities</c>
/// (https://apidocs.bitrix24.com/api-reference/telephony/telephony-external-call-search-crm-entities.html).
/// </summary>
public static class RouteEndpoint
{
    /// <summary>The path the dialplan asks.</summary>
    public const string Path = "/pbx/route";

    /// <summary>The header that may carry the shared secret (the <c>secret</c> query parameter may too).</summary>
    public const string SecretHeader = "X-Switchboard-Secret";

    /// <summary>Maps <see cref="Path"/>.</summary>
    public static IEndpointRouteBuilder MapPbxRoute(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        ResponsibleRouter? router = null;
        app.MapGet(Path, async http =>
        {
            router ??= app.ServiceProvider.GetRequiredService<ResponsibleRouter>();
            var result = await router.HandleAsync(http, http.RequestAborted).ConfigureAwait(false);
            await result.ExecuteAsync(http).ConfigureAwait(false);
        });
        return app;
    }
}

/// <summary>
/// Answers <see cref="RouteEndpoint.Path"/>. The caller is ringing while this runs, so the answer is bounded by
/// <see cref="PbxOptions.RouteTimeout"/>: a slow or failing portal gives "no preference" (200, empty body)
/// and the dialplan goes on as it would without Switchboard. Answers are cached per portal and number
/// for <see cref="PbxOptions.RouteCacheTime"/>, and concurrent questions about one number share one
/// REST call, so a burst of calls from one number costs one request.
/// </summary>
public sealed partial class ResponsibleRouter(
    IOptions<PbxOptions> options,
    PbxRegistry registry,
    IJournalStore journal,
    TelephonyClient telephony,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<ResponsibleRouter> logger)
{
    // A failed lookup is not an answer: it is kept only long enough that a burst during an outage does
    // not become a burst of requests to the portal.
    private static readonly TimeSpan FailureCacheTime = TimeSpan.FromSeconds(5);

    // A lookup outlives the request that started it (its answer is cached for the next call), but not forever.
    private static readonly TimeSpan LookupLimit = TimeSpan.FromSeconds(30);

    private readonly Lock _sync = new();
    private readonly Dictionary<(string MemberId, string Number), Task<Lookup>> _cache = [];

    /// <summary>What a lookup found: an extension, nobody (both cached), or a failure.</summary>
    private sealed record Lookup(string? Extension, string? Failure, DateTimeOffset At);

    /// <summary>Checks the secret and the input, then answers the extension or "no preference".</summary>
    public async Task<IResult> HandleAsync(HttpContext http, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(http);
        var o = options.Value;
        if (o.RouteSecret is not { Length: > 0 } secret)
        {
            // Not configured: the endpoint does not exist, and says nothing about why.
            return Results.NotFound();
        }

        var query = http.Request.Query;
        var given = http.Request.Headers[RouteEndpoint.SecretHeader].FirstOrDefault() is { Length: > 0 } header ? header : query["secret"].FirstOrDefault();
        if (!SecretMatches(given, secret))
        {
            return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Wrong or missing secret",
                detail: $"Send Switchboard:Pbx:RouteSecret in the {RouteEndpoint.SecretHeader} header or the secret query parameter.");
        }

        if (query["number"].FirstOrDefault() is not { Length: > 0 } text)
        {
            return BadRequest("The number query parameter is required, e.g. /pbx/route?number=%2B14155551234.");
        }

        var (memberId, pbx, problem) = await PortalOfAsync(query["member"].FirstOrDefault(), query["pbx"].FirstOrDefault(), cancellationToken).ConfigureAwait(false);
        if (problem is not null)
        {
            return BadRequest(problem);
        }

        var country = pbx?.Options.CountryOr(o.DefaultCountry) ?? o.DefaultCountry;
        var number = NumberNormalizer.Normalize(text, country, o.MaxExtensionLength, pbx?.Options.CompiledInboundRules());
        if (!number.IsValid)
        {
            return BadRequest(number.Error ?? "Not a phone number.");
        }

        if (number.Kind == NumberKind.Internal)
        {
            // An internal caller has no CRM responsible.
            return NoPreference();
        }

        var lookup = LookupFor(memberId!, number.Value!);
        try
        {
            var found = await lookup.WaitAsync(o.RouteTimeout, time, cancellationToken).ConfigureAwait(false);
            if (found.Failure is { } failure)
            {
                LogNoPreference(logger, memberId!, failure);
                return NoPreference();
            }

            return found.Extension is { } extension ? Results.Text(extension, "text/plain", Encoding.ASCII) : NoPreference();
        }
        catch (TimeoutException)
        {
            LogNoPreference(logger, memberId!, $"the portal did not answer within {o.RouteTimeout.TotalMilliseconds:0} ms");
            return NoPreference();
        }
    }

    // 200 with an empty body: CURL() sets an empty string (as for 204), and a status that is not an
    // error keeps "no preference" apart from real failures in the PBX's and a proxy's logs.
    private static IResult NoPreference() => Results.Text(string.Empty, "text/plain", Encoding.ASCII);

    private static IResult BadRequest(string detail) =>
        Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad route request", detail: detail);

    /// <summary>Compares in constant time; hashing first hides the secret's length too.</summary>
    private static bool SecretMatches(string? given, string secret) =>
        given is not null && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    private async Task<(string? MemberId, AsteriskConnector? Pbx, string? Problem)> PortalOfAsync(string? member, string? pbxName, CancellationToken ct)
    {
        AsteriskConnector? pbx = null;
        if (pbxName is { Length: > 0 })
        {
            pbx = registry.Connectors.FirstOrDefault(c => string.Equals(c.Name, pbxName, StringComparison.OrdinalIgnoreCase));
            if (pbx is null)
            {
                return (null, null, $"No PBX is named '{pbxName}' in Switchboard:Pbx:Asterisk.");
            }
        }

        var installed = (await journal.ListPortalsAsync(ct).ConfigureAwait(false)).Where(p => p.State == PortalState.Installed).Select(p => p.MemberId).ToList();
        if (member is { Length: > 0 })
        {
            return installed.Contains(member, StringComparer.Ordinal)
                ? (member, pbx ?? registry.ForPortal(member), null)
                : (null, null, $"No portal with member_id '{member}' is installed.");
        }

        if (pbx is not null)
        {
            return await pbx.ResolveMemberAsync(ct).ConfigureAwait(false) is { } resolved
                ? (resolved, pbx, null)
                : (null, null, $"PBX {pbx.Name} has no portal: set Switchboard:Pbx:Asterisk:{pbx.Name}:MemberId.");
        }

        return installed.Count switch
        {
            1 => (installed[0], registry.ForPortal(installed[0]), null),
            0 => (null, null, "No portal is installed."),
            _ => (null, null, "Several portals are installed: say which with member= or pbx=."),
        };
    }

    /// <summary>The cached or running lookup of this number, or a new one.</summary>
    private Task<Lookup> LookupFor(string memberId, string number)
    {
        var key = (memberId, number);
        var now = time.GetUtcNow();
        var keep = options.Value.RouteCacheTime;
        lock (_sync)
        {
            if (_cache.TryGetValue(key, out var known) && (!known.IsCompleted || (known.IsCompletedSuccessfully && Fresh(known.Result, now, keep))))
            {
                return known;
            }

            if (_cache.Count >= 10_000)
            {
                foreach (var stale in _cache.Where(kv => kv.Value.IsCompleted && (!kv.Value.IsCompletedSuccessfully || !Fresh(kv.Value.Result, now, keep))).Select(kv => kv.Key).ToList())
                {
                    _cache.Remove(stale);
                }
            }

            var started = SearchAsync(memberId, number);
            _cache[key] = started;
            return started;
        }
    }

    private static bool Fresh(Lookup lookup, DateTimeOffset now, TimeSpan keep) =>
        now - lookup.At < (lookup.Failure is null ? keep : (keep < FailureCacheTime ? keep : FailureCacheTime));

    /// <summary>The first match (Bitrix24's priority order) whose responsible user is active and has an extension.</summary>
    private async Task<Lookup> SearchAsync(string memberId, string number)
    {
        await Task.Yield();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopping);
        limit.CancelAfter(LookupLimit);
        try
        {
            var matches = await telephony.SearchCrmEntitiesAsync(memberId, number, limit.Token).ConfigureAwait(false);
            if (!matches.IsSuccess)
            {
                return new Lookup(null, $"searchCrmEntities failed: {matches.Error.Code}", time.GetUtcNow());
            }

            var users = await journal.GetPortalUsersAsync(memberId, limit.Token).ConfigureAwait(false);
            foreach (var match in matches.Value)
            {
                var responsible = match.AssignedById ?? match.AssignedBy?.Id;
                var user = users.FirstOrDefault(u => u.UserId == responsible && u.Active);
                if (user?.Extension is { Length: > 0 } extension && extension.All(char.IsAsciiDigit))
                {
                    LogRouted(logger, memberId, match.EntityType, match.EntityId, user.UserId, extension);
                    return new Lookup(extension, null, time.GetUtcNow());
                }
            }

            return new Lookup(null, null, time.GetUtcNow());
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Whatever went wrong (the portal, the store, a token that does not decrypt), the answer is
            // "no preference" and the failure is cached briefly: a faulted task in the cache would make
            // every later call for this number fail.
            return new Lookup(null, $"searchCrmEntities did not finish ({ex.GetType().Name})", time.GetUtcNow());
        }
    }

    [LoggerMessage(EventId = 5300, Level = LogLevel.Information, Message = "Route for {MemberId}: {EntityType} {EntityId} is handled by user {UserId}, extension {Extension}")]
    private static partial void LogRouted(ILogger logger, string memberId, CrmEntityType? entityType, long? entityId, long userId, string extension);

    [LoggerMessage(EventId = 5301, Level = LogLevel.Warning, Message = "Route for {MemberId}: no preference answered because {Reason}")]
    private static partial void LogNoPreference(ILogger logger, string memberId, string reason);
}
