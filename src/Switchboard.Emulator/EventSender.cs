using System.Globalization;
using System.Text;
using Switchboard.Bitrix24.Wire;

namespace Switchboard.Emulator;

/// <summary>What a send produced: the deliveries and, for click-to-call, the CALL_ID the portal registered.</summary>
public sealed record EventSendResult(string Event, IReadOnlyList<EventDelivery> Deliveries, string? CallId = null);

/// <summary>Which auth block an event carries.</summary>
internal enum EventAuthKind
{
    /// <summary>Full block with a user's access and refresh tokens (install, update, telephony events).</summary>
    UserTokens,
    /// <summary>ONAPPUNINSTALL: domain, endpoints, member_id and application_token only (REFERENCE §2.2).</summary>
    NoTokens,
}

/// <summary>
/// Posts events the way Bitrix24's queue does (REFERENCE §1.1): HTTP POST,
/// <c>application/x-www-form-urlencoded</c>, body built by PHP's http_build_query over
/// {event, event_handler_id, data, ts, auth}, every value a string. One attempt, no retry (§1.3).
/// </summary>
internal sealed class EventSender(EmulatorOptions options, PortalState state, TokenStore tokens, TimeProvider time, Func<PortalAddresses> addresses)
{
    private static readonly HttpClient Http = CreateClient();

    private static HttpClient CreateClient()
    {
        var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        // Seen in third-party nginx logs (REFERENCE §1.3; UNVERIFIED officially).
        client.DefaultRequestHeaders.UserAgent.ParseAdd("Bitrix24 Webhook Engine");
        return client;
    }

    /// <summary>Builds the form body of one event.</summary>
    public string BuildBody(string eventName, long? handlerId, IReadOnlyList<KeyValuePair<string, object?>> data, EventAuthKind authKind, long userId)
    {
        var a = addresses();
        var auth = new List<KeyValuePair<string, object?>>();
        if (authKind == EventAuthKind.UserTokens)
        {
            var pair = tokens.Issue(userId);
            auth.Add(new("access_token", pair.AccessToken));
            auth.Add(new("expires", pair.Expires.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)));
            auth.Add(new("expires_in", ((long)options.AccessTokenLifetime.TotalSeconds).ToString(CultureInfo.InvariantCulture)));
            auth.Add(new("scope", options.Scope));
            auth.Add(new("domain", a.Domain));
            auth.Add(new("server_endpoint", a.ServerEndpoint));
            auth.Add(new("status", options.AppStatus));
            auth.Add(new("client_endpoint", a.ClientEndpoint));
            auth.Add(new("member_id", options.MemberId));
            auth.Add(new("user_id", userId.ToString(CultureInfo.InvariantCulture)));
            auth.Add(new("refresh_token", pair.RefreshToken));
            auth.Add(new("application_token", options.ApplicationToken));
        }
        else
        {
            auth.Add(new("domain", a.Domain));
            auth.Add(new("server_endpoint", a.ServerEndpoint));
            auth.Add(new("client_endpoint", a.ClientEndpoint));
            auth.Add(new("member_id", options.MemberId));
            auth.Add(new("application_token", options.ApplicationToken));
        }

        var fields = new List<KeyValuePair<string, object?>> { new("event", eventName) };
        if (handlerId is { } id)
        {
            fields.Add(new("event_handler_id", id.ToString(CultureInfo.InvariantCulture)));
        }

        fields.Add(new("data", data));
        fields.Add(new("ts", time.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)));
        fields.Add(new("auth", auth));
        return HttpBuildQuery.Encode(fields);
    }

    /// <summary>Sends to every handler bound to the event (online ones).</summary>
    public async Task<IReadOnlyList<EventDelivery>> SendToBoundAsync(string eventName, IReadOnlyList<KeyValuePair<string, object?>> data, EventAuthKind authKind, long userId, CancellationToken ct,
        IReadOnlyList<BoundHandler>? boundBefore = null)
    {
        var handlers = (boundBefore ?? state.Handlers).Where(h => h.Event == eventName && !h.Offline).ToList();
        var results = new List<EventDelivery>();
        foreach (var h in handlers)
        {
            // auth_type: the user whose tokens are sent; 0 = the user who triggered the event (event-bind.md).
            var body = BuildBody(eventName, h.Id, data, authKind, h.AuthType != 0 ? h.AuthType : userId);
            results.Add(await PostAsync(eventName, h.Handler, h.Id, body, ct));
        }

        return results;
    }

    public async Task<EventDelivery> PostAsync(string eventName, string url, long handlerId, string body, CancellationToken ct)
    {
        EventDelivery delivery;
        try
        {
            using var content = new StringContent(body, Encoding.UTF8, "application/x-www-form-urlencoded");
            // PHP sends no charset parameter; keep the header exactly as Bitrix24 sends it.
            content.Headers.ContentType = new("application/x-www-form-urlencoded");
            using var response = await Http.PostAsync(new Uri(url), content, ct);
            delivery = new EventDelivery(eventName, url, handlerId, (int)response.StatusCode, null);
        }
        catch (HttpRequestException ex)
        {
            delivery = new EventDelivery(eventName, url, handlerId, null, ex.Message);
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            delivery = new EventDelivery(eventName, url, handlerId, null, "The handler did not answer within 30 s.");
        }

        lock (state.Sync)
        {
            state.DeliveryList.Add(delivery);
        }

        return delivery;
    }
}

/// <summary>The addresses the portal advertises.</summary>
internal sealed record PortalAddresses(string Domain, string ClientEndpoint, string ServerEndpoint, string OAuthDomain);
