using System.Text.Json;
using System.Text.Json.Nodes;
using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Telephony;

namespace Switchboard.Bitrix24.Rest;

/// <summary>Typed <c>app.info</c>, <c>event.bind</c> and <c>user.get</c>.</summary>
public sealed class PortalClient(Bitrix24RestClient rest)
{
    /// <summary><c>app.info</c>.</summary>
    public async Task<RestResult<AppInfo>> AppInfoAsync(string memberId, CancellationToken cancellationToken = default)
    {
        var r = await rest.CallAsync(memberId, "app.info", null, cancellationToken).ConfigureAwait(false);
        return r.Map(ToAppInfo);
    }

    /// <summary><c>app.info</c> at <paramref name="clientEndpoint"/> with an access token someone presents (see <see cref="Bitrix24RestClient.CallWithTokenAsync"/>).</summary>
    public async Task<RestResult<AppInfo>> AppInfoAsync(string memberId, Uri clientEndpoint, string accessToken, CancellationToken cancellationToken = default)
    {
        var r = await rest.CallWithTokenAsync(memberId, clientEndpoint, accessToken, "app.info", null, cancellationToken).ConfigureAwait(false);
        return r.Map(ToAppInfo);
    }

    private static AppInfo ToAppInfo(RestResponse v) =>
        new(JsonRead.Long(v.Result, "ID"), JsonRead.String(v.Result, "CODE"), JsonRead.String(v.Result, "VERSION"),
            ApplicationStatus.From(JsonRead.String(v.Result, "STATUS")), JsonRead.Bool(v.Result, "INSTALLED"), v.Result);

    /// <summary>
    /// <c>event.bind</c> (EN-docs api-reference/events/event-bind.md). Binding a handler that is already bound is
    /// success: test-handler.md lists "Unable to set event handler" for it, and third-party code shows
    /// <c>ERROR_CORE</c> "Handler already binded" — both read as <see cref="EventBindOutcome.AlreadyBound"/>.
    /// </summary>
    public async Task<RestResult<EventBindOutcome>> BindEventAsync(string memberId, string eventName, Uri handler, long? authType = null,
        bool offline = false, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(eventName);
        ArgumentNullException.ThrowIfNull(handler);
        var p = new JsonObject { ["event"] = eventName, ["handler"] = handler.ToString() };
        if (authType is { } a)
        {
            p["auth_type"] = a;
        }

        if (offline)
        {
            p["event_type"] = "offline";
        }

        var r = await rest.CallAsync(memberId, "event.bind", p, cancellationToken).ConfigureAwait(false);
        if (r.IsSuccess)
        {
            return RestResult<EventBindOutcome>.Success(EventBindOutcome.Bound, r.Attempts);
        }

        var text = $"{r.Error.Code} {r.Error.Description}";
        return text.Contains("already binded", StringComparison.OrdinalIgnoreCase)
            || text.Contains("Unable to set event handler", StringComparison.OrdinalIgnoreCase)
            ? RestResult<EventBindOutcome>.Success(EventBindOutcome.AlreadyBound, r.Attempts)
            : RestResult<EventBindOutcome>.Failure(r.Error, r.Attempts);
    }

    /// <summary>
    /// <c>user.get</c>, reading EVERY page (<c>start</c> = the previous answer's <c>next</c>, pages of 50; EN-docs
    /// api-reference/user/user-get.md). A partial list taken as the whole one is how calls end up with the
    /// wrong user (FIELD-LESSONS #6). <paramref name="filter"/> is sent as <c>FILTER</c>, e.g.
    /// <c>{"ACTIVE": true}</c> or <c>{"UF_PHONE_INNER": "101"}</c>.
    /// </summary>
    public async Task<RestResult<IReadOnlyList<PortalUser>>> GetUsersAsync(string memberId, JsonObject? filter = null, CancellationToken cancellationToken = default)
    {
        var users = new List<PortalUser>();
        long start = 0;
        var attempts = 0;
        var seen = new HashSet<long>();
        while (true)
        {
            var p = new JsonObject { ["start"] = start };
            if (filter is not null)
            {
                p["FILTER"] = filter.DeepClone();
            }

            var r = await rest.CallAsync(memberId, "user.get", p, cancellationToken).ConfigureAwait(false);
            attempts += r.Attempts;
            if (!r.IsSuccess)
            {
                return RestResult<IReadOnlyList<PortalUser>>.Failure(r.Error, attempts);
            }

            foreach (var u in JsonRead.Items(r.Value.Result))
            {
                if (JsonRead.Long(u, "ID") is { } id && seen.Add(id))
                {
                    users.Add(new PortalUser(id, JsonRead.Bool(u, "ACTIVE"), JsonRead.String(u, "NAME"), JsonRead.String(u, "LAST_NAME"),
                        JsonRead.String(u, "UF_PHONE_INNER") is { Length: > 0 } inner ? inner : null, u.Clone()));
                }
            }

            if (r.Value.Next is not { } next || next <= start)
            {
                return RestResult<IReadOnlyList<PortalUser>>.Success(users, attempts);
            }

            start = next;
        }
    }
}
