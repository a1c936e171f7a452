using System.Collections.Frozen;

namespace Switchboard.Bitrix24.Wire;

/// <summary>
/// The field names Bitrix24 sends with every event, shared instead of allocated for each body
/// (a telephony event has some twenty of them). Any other name is allocated as usual.
/// </summary>
internal static class FieldNames
{
    private static readonly FrozenSet<string> Known = FrozenSet.Create(StringComparer.Ordinal,
    [
        "event", "event_handler_id", "event_id", "data", "ts", "auth",
        "access_token", "expires", "expires_in", "scope", "domain", "server_endpoint", "status",
        "client_endpoint", "member_id", "refresh_token", "application_token", "user_id",
        "CALL_ID", "CALL_TYPE", "PHONE_NUMBER", "PHONE_NUMBER_INTERNATIONAL", "EXTENSION", "USER_ID",
        "CALL_LIST_ID", "LINE_NUMBER", "IS_MOBILE", "CRM_ENTITY_TYPE", "CRM_ENTITY_ID", "TEXT", "VOICE",
        "ACCOUNT_SEARCH_ID", "CALLER_ID", "REST_APP_ID", "PORTAL_NUMBER", "PORTAL_USER_ID", "CALL_DURATION",
        "CALL_START_DATE", "COST", "COST_CURRENCY", "CALL_FAILED_CODE", "CALL_FAILED_REASON", "CRM_ACTIVITY_ID",
        "VERSION", "ACTIVE", "INSTALLED", "LANGUAGE_ID", "PREVIOUS_VERSION", "CLEAN", "FIELDS", "ID",
    ]);

    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> Lookup = Known.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>The shared string for a known name; a new one otherwise.</summary>
    public static string Get(ReadOnlySpan<char> name) => Lookup.TryGetValue(name, out var known) ? known : name.ToString();
}
