using Switchboard.Bitrix24.Wire;

namespace Switchboard.Bitrix24.Events;

/// <summary>
/// An event Bitrix24 POSTed to the application. The envelope (EN-docs api-reference/events/index.md):
/// <c>event</c>, <c>event_handler_id</c>, <c>data</c>, <c>ts</c>, <c>auth</c>, and the SDK's optional <c>event_id</c>.
/// Typed subclasses expose <c>data</c> with documented types; <see cref="UntypedEvent"/> keeps any other event.
/// </summary>
public abstract record Bitrix24Event
{
    /// <summary>The event code, upper-cased (Bitrix24 sends upper case; matching is case-insensitive).</summary>
    public required string Name { get; init; }

    /// <summary><c>event_handler_id</c>: the bound handler that delivered it.</summary>
    public long? HandlerId { get; init; }

    /// <summary><c>ts</c>: when the queue sent the event.</summary>
    public DateTimeOffset? SentAt { get; init; }

    /// <summary><c>event_id</c>, when present.</summary>
    public string? EventId { get; init; }

    /// <summary>The <c>auth</c> block.</summary>
    public required EventAuth Auth { get; init; }

    /// <summary>The raw <c>data</c> block, for fields this type does not name.</summary>
    public required FormNode Data { get; init; }

    /// <summary>Fields present on the wire whose text did not fit their documented type.</summary>
    public IReadOnlyList<FieldProblem> Problems { get; init; } = [];

    /// <summary>The Bitrix24 call id the event is about, if any.</summary>
    public virtual string? CallId => null;

    /// <summary>
    /// The longest CALL_ID read as one. Bitrix24's are about 60 characters (<c>externalCall.</c>, an md5,
    /// a timestamp; REFERENCE.md §5). Anything far longer is not a call id, and it would not fit the
    /// ledger's keys: a PostgreSQL B-tree entry is at most 2,704 bytes, and one such row stopped every
    /// ledger pass behind it.
    /// </summary>
    public const int MaxCallIdLength = 256;
}

/// <summary>Any event without a typed class here; its <see cref="Bitrix24Event.Data"/> is all there is.</summary>
public sealed record UntypedEvent : Bitrix24Event
{
    /// <inheritdoc/>
    public override string? CallId => Data.GetString("CALL_ID") is { Length: > 0 and <= MaxCallIdLength } id ? id : null;
}

/// <summary>
/// ONEXTERNALCALLSTART: a user clicked a number in the CRM and this app is the outgoing line
/// (EN-docs api-reference/telephony/events/on-external-call-start.md). Bitrix24 has already
/// registered the call: originate it and later finish it with this <see cref="CallId"/>; do not register again.
/// </summary>
public sealed record ExternalCallStartEvent : Bitrix24Event
{
    /// <summary><c>PHONE_NUMBER</c>: the number to call, as shown in the CRM.</summary>
    public string? PhoneNumber { get; init; }
    /// <summary><c>PHONE_NUMBER_INTERNATIONAL</c>.</summary>
    public string? PhoneNumberInternational { get; init; }
    /// <summary><c>EXTENSION</c>: may be empty.</summary>
    public string? Extension { get; init; }
    /// <summary><c>USER_ID</c>: the user who clicked.</summary>
    public long? UserId { get; init; }
    /// <summary><c>CALL_LIST_ID</c>: null when "0" (not from a call list).</summary>
    public long? CallListId { get; init; }
    /// <summary><c>LINE_NUMBER</c>: the external line requested.</summary>
    public string? LineNumber { get; init; }
    /// <summary><c>IS_MOBILE</c>: "1" (old docs: "Y") when started from the mobile app.</summary>
    public bool? IsMobile { get; init; }
    /// <summary><c>CALL_ID</c>.</summary>
    public string? ExternalCallId { get; init; }
    /// <summary><c>CRM_ENTITY_TYPE</c>.</summary>
    public CrmEntityType? CrmEntityType { get; init; }
    /// <summary><c>CRM_ENTITY_ID</c>.</summary>
    public long? CrmEntityId { get; init; }

    /// <inheritdoc/>
    public override string? CallId => ExternalCallId;
}

/// <summary>
/// ONEXTERNALCALLBACKSTART: a visitor asked for a callback through a CRM form on this app's line
/// (EN-docs .../events/on-external-call-back-start.md). There is no CALL_ID yet.
/// </summary>
public sealed record ExternalCallBackStartEvent : Bitrix24Event
{
    /// <summary><c>PHONE_NUMBER</c>: the number to call back.</summary>
    public string? PhoneNumber { get; init; }
    /// <summary><c>TEXT</c>: what to say to the employee first.</summary>
    public string? Text { get; init; }
    /// <summary><c>VOICE</c>: text-to-speech voice id.</summary>
    public string? Voice { get; init; }
    /// <summary><c>CRM_ENTITY_TYPE</c>.</summary>
    public CrmEntityType? CrmEntityType { get; init; }
    /// <summary><c>CRM_ENTITY_ID</c>.</summary>
    public long? CrmEntityId { get; init; }
    /// <summary><c>LINE_NUMBER</c>.</summary>
    public string? LineNumber { get; init; }
}

/// <summary>
/// ONVOXIMPLANTCALLINIT: a call was set up, including one this app registered itself
/// (EN-docs .../voximplant/events/on-voximplant-call-init.md) — so it may be our own echo.
/// </summary>
public sealed record VoximplantCallInitEvent : Bitrix24Event
{
    /// <summary><c>CALL_ID</c>.</summary>
    public string? VoximplantCallId { get; init; }
    /// <summary><c>CALL_TYPE</c>.</summary>
    public CallType? CallType { get; init; }
    /// <summary><c>ACCOUNT_SEARCH_ID</c>: rented/SIP lines only.</summary>
    public string? AccountSearchId { get; init; }
    /// <summary><c>PHONE_NUMBER</c>: rented/SIP lines only.</summary>
    public string? PhoneNumber { get; init; }
    /// <summary><c>CALLER_ID</c>: the line (outgoing) or the client's number (incoming).</summary>
    public string? CallerId { get; init; }
    /// <summary><c>REST_APP_ID</c>: set for calls of a telephony application.</summary>
    public long? RestAppId { get; init; }

    /// <inheritdoc/>
    public override string? CallId => VoximplantCallId;
}

/// <summary>ONVOXIMPLANTCALLSTART: the call was answered (EN-docs .../on-voximplant-call-start.md).</summary>
public sealed record VoximplantCallStartEvent : Bitrix24Event
{
    /// <summary><c>CALL_ID</c>.</summary>
    public string? VoximplantCallId { get; init; }
    /// <summary><c>USER_ID</c>: who answered.</summary>
    public long? UserId { get; init; }

    /// <inheritdoc/>
    public override string? CallId => VoximplantCallId;
}

/// <summary>
/// ONVOXIMPLANTCALLEND: the call ended and is in the history, including calls this app finished
/// (EN-docs .../on-voximplant-call-end.md) — so it may be our own echo.
/// </summary>
public sealed record VoximplantCallEndEvent : Bitrix24Event
{
    /// <summary><c>CALL_ID</c>.</summary>
    public string? VoximplantCallId { get; init; }
    /// <summary><c>CALL_TYPE</c>.</summary>
    public CallType? CallType { get; init; }
    /// <summary><c>PHONE_NUMBER</c>.</summary>
    public string? PhoneNumber { get; init; }
    /// <summary><c>PORTAL_NUMBER</c>: the line; <c>REST_APP:…</c> for external calls.</summary>
    public string? PortalNumber { get; init; }
    /// <summary><c>PORTAL_USER_ID</c>.</summary>
    public long? PortalUserId { get; init; }
    /// <summary><c>CALL_DURATION</c>, whole seconds.</summary>
    public TimeSpan? CallDuration { get; init; }
    /// <summary><c>CALL_START_DATE</c>: ISO 8601 with its offset kept.</summary>
    public DateTimeOffset? CallStartDate { get; init; }
    /// <summary><c>COST</c>.</summary>
    public decimal? Cost { get; init; }
    /// <summary><c>COST_CURRENCY</c>: may be empty.</summary>
    public string? CostCurrency { get; init; }
    /// <summary><c>CALL_FAILED_CODE</c>: 200, 304, 603-S, OTHER, ….</summary>
    public CallStatusCode? CallFailedCode { get; init; }
    /// <summary><c>CALL_FAILED_REASON</c>.</summary>
    public string? CallFailedReason { get; init; }
    /// <summary><c>CRM_ACTIVITY_ID</c>.</summary>
    public long? CrmActivityId { get; init; }

    /// <inheritdoc/>
    public override string? CallId => VoximplantCallId;
}

/// <summary>ONAPPINSTALL (EN-docs api-reference/common/events/on-app-install.md): the first event with an application_token.</summary>
public sealed record AppInstallEvent : Bitrix24Event
{
    /// <summary><c>VERSION</c>.</summary>
    public string? Version { get; init; }
    /// <summary><c>ACTIVE</c> (Y/N).</summary>
    public bool? Active { get; init; }
    /// <summary><c>INSTALLED</c> (Y/N): N means installation is not finished yet.</summary>
    public bool? Installed { get; init; }
    /// <summary><c>LANGUAGE_ID</c>.</summary>
    public string? LanguageId { get; init; }
}

/// <summary>ONAPPUPDATE (EN-docs .../on-app-update.md): carries the updated application_token; handlers must be bound again.</summary>
public sealed record AppUpdateEvent : Bitrix24Event
{
    /// <summary><c>VERSION</c>.</summary>
    public string? Version { get; init; }
    /// <summary><c>PREVIOUS_VERSION</c>.</summary>
    public string? PreviousVersion { get; init; }
    /// <summary><c>LANGUAGE_ID</c>.</summary>
    public string? LanguageId { get; init; }
}

/// <summary>ONAPPUNINSTALL (EN-docs .../on-app-uninstall.md): no access or refresh token, only the application_token.</summary>
public sealed record AppUninstallEvent : Bitrix24Event
{
    /// <summary><c>CLEAN</c>: the admin asked to delete the application's data.</summary>
    public bool? Clean { get; init; }
    /// <summary><c>LANGUAGE_ID</c>.</summary>
    public string? LanguageId { get; init; }
}

/// <summary>ONOFFLINEEVENT (EN-docs api-reference/events/on-offline-event.md): new records wait in the offline queue; data is empty.</summary>
public sealed record OfflineEventNotice : Bitrix24Event;
