using System.Globalization;
using System.Security.Cryptography;
using Switchboard.Bitrix24.Wire;

namespace Switchboard.Tests.Infrastructure;

/// <summary>A Bitrix24 portal as the tests pretend to be it: its ids, its host and its secrets.</summary>
public sealed record TestPortal(string MemberId, string Domain, string ApplicationToken, string AccessToken, string RefreshToken)
{
    /// <summary>A new portal whose install the test OAuth server (<see cref="TestOAuth"/>) proves.</summary>
    public static TestPortal Create(string domain = "acme.bitrix24.com")
    {
        var portal = new TestPortal(Hex(16), domain, Hex(16), "at" + Hex(12), "rt" + Hex(12));
        TestOAuth.Register(portal);
        return portal;
    }

    /// <summary>A portal the OAuth server knows nothing of: its install is refused.</summary>
    public static TestPortal Unknown(string domain = "acme.bitrix24.com") => new(Hex(16), domain, Hex(16), "at" + Hex(12), "rt" + Hex(12));

    public string ClientEndpoint => $"https://{Domain}/rest/";

    public static string Hex(int bytes) => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(bytes));
}

/// <summary>
/// Event bodies built the way Bitrix24 builds them: PHP's http_build_query over
/// {event, event_handler_id, data, ts, auth} (REFERENCE.md §1.1), with the seed's auth block.
/// </summary>
public static class Bitrix24Events
{
    private static long _ts = 1_773_236_988;

    public static long NextTs() => Interlocked.Increment(ref _ts);

    public static Dictionary<string, object?> Auth(TestPortal portal, bool withTokens = true, string? applicationToken = null)
    {
        var auth = new Dictionary<string, object?>();
        if (withTokens)
        {
            auth["access_token"] = portal.AccessToken;
            auth["expires_in"] = "3600";
        }

        auth["scope"] = "telephony,crm,user";
        auth["domain"] = portal.Domain;
        auth["server_endpoint"] = "https://oauth.bitrix.info/rest/";
        auth["status"] = "L";
        auth["client_endpoint"] = portal.ClientEndpoint;
        auth["member_id"] = portal.MemberId;
        if (withTokens)
        {
            auth["refresh_token"] = portal.RefreshToken;
        }

        auth["application_token"] = applicationToken ?? portal.ApplicationToken;
        return auth;
    }

    public static string Body(string eventName, Dictionary<string, object?> data, Dictionary<string, object?> auth, long? ts = null, int handlerId = 1055) =>
        HttpBuildQuery.Encode(new Dictionary<string, object?>
        {
            ["event"] = eventName,
            ["event_handler_id"] = handlerId.ToString(CultureInfo.InvariantCulture),
            ["data"] = data,
            ["ts"] = (ts ?? NextTs()).ToString(CultureInfo.InvariantCulture),
            ["auth"] = auth,
        });

    public static string Install(TestPortal portal, long? ts = null) => Body(
        "ONAPPINSTALL",
        new() { ["VERSION"] = "1", ["ACTIVE"] = "Y", ["INSTALLED"] = "Y", ["LANGUAGE_ID"] = "en" },
        Auth(portal),
        ts);

    public static string Update(TestPortal portal, string newApplicationToken, long? ts = null) => Body(
        "ONAPPUPDATE",
        new() { ["VERSION"] = "2", ["PREVIOUS_VERSION"] = "1", ["LANGUAGE_ID"] = "en" },
        Auth(portal, applicationToken: newApplicationToken),
        ts);

    /// <summary>ONAPPUNINSTALL carries no access or refresh token (EN-docs on-app-uninstall.md).</summary>
    public static string Uninstall(TestPortal portal, long? ts = null, string? applicationToken = null) => Body(
        "ONAPPUNINSTALL",
        new() { ["CLEAN"] = "0", ["LANGUAGE_ID"] = "en" },
        new()
        {
            ["domain"] = portal.Domain,
            ["server_endpoint"] = "https://oauth.bitrix.info/rest/",
            ["client_endpoint"] = portal.ClientEndpoint,
            ["member_id"] = portal.MemberId,
            ["application_token"] = applicationToken ?? portal.ApplicationToken,
        },
        ts);

    public static string NewCallId() => $"externalCall.{TestPortal.Hex(16)}.{NextTs()}";

    /// <summary>ONEXTERNALCALLSTART as in the seed (../shared/seeds), with a fresh CALL_ID.</summary>
    public static Dictionary<string, object?> ExternalCallStartData(string? callId = null) => new()
    {
        ["PHONE_NUMBER"] = "+14155551234",
        ["PHONE_NUMBER_INTERNATIONAL"] = "+14155551234",
        ["EXTENSION"] = "",
        ["USER_ID"] = "1269",
        ["CALL_LIST_ID"] = "0",
        ["LINE_NUMBER"] = "7",
        ["IS_MOBILE"] = "0",
        ["CALL_ID"] = callId ?? NewCallId(),
        ["CRM_ENTITY_TYPE"] = "CONTACT",
        ["CRM_ENTITY_ID"] = "797",
    };

    public static string ExternalCallStart(TestPortal portal, string? callId = null, long? ts = null, string? applicationToken = null, string? memberId = null)
    {
        var auth = Auth(portal, applicationToken: applicationToken);
        if (memberId is not null)
        {
            auth["member_id"] = memberId;
        }

        return Body("ONEXTERNALCALLSTART", ExternalCallStartData(callId), auth, ts);
    }

    public static string CallEnd(TestPortal portal, string callId, long? ts = null) => Body(
        "ONVOXIMPLANTCALLEND",
        new()
        {
            ["CALL_ID"] = callId, ["CALL_TYPE"] = "1", ["PHONE_NUMBER"] = "+14155551234", ["PORTAL_NUMBER"] = "REST_APP:7",
            ["PORTAL_USER_ID"] = "1269", ["CALL_DURATION"] = "42", ["CALL_START_DATE"] = "2026-03-11T17:28:46+03:00",
            ["COST"] = "0.0000", ["COST_CURRENCY"] = "", ["CALL_FAILED_CODE"] = "200", ["CALL_FAILED_REASON"] = "Success",
            ["CRM_ACTIVITY_ID"] = "9001",
        },
        Auth(portal),
        ts);
}
