using System.Text.Json;
using Switchboard.Bitrix24.Events;

namespace Switchboard.Bitrix24.Telephony;

/// <summary>Parameters of <c>telephony.externalCall.register</c> (EN-docs telephony-external-call-register.md).</summary>
public sealed record RegisterCallRequest
{
    /// <summary><c>EXTERNAL_CALL_ID</c>: the PBX's unique call id. Required here although optional in the docs:
    /// without it a repeat within 30 minutes returns the same CALL_ID and the second finish fails with
    /// "Call is not found" (b24-rest-docs #175, FIELD-LESSONS).</summary>
    public required string ExternalCallId { get; init; }
    /// <summary><c>PHONE_NUMBER</c>: the client's number.</summary>
    public required string PhoneNumber { get; init; }
    /// <summary><c>TYPE</c>.</summary>
    public required CallType Type { get; init; }
    /// <summary><c>USER_ID</c>; set this or <see cref="UserPhoneInner"/>.</summary>
    public long? UserId { get; init; }
    /// <summary><c>USER_PHONE_INNER</c>: the user's extension; set this or <see cref="UserId"/>.</summary>
    public string? UserPhoneInner { get; init; }
    /// <summary><c>CALL_START_DATE</c>, sent as ISO-8601 with its offset (without one the server's zone is assumed).</summary>
    public DateTimeOffset? CallStartDate { get; init; }
    /// <summary><c>CRM_CREATE</c>.</summary>
    public bool? CrmCreate { get; init; }
    /// <summary><c>CRM_SOURCE</c>.</summary>
    public string? CrmSource { get; init; }
    /// <summary><c>CRM_ENTITY_TYPE</c>.</summary>
    public CrmEntityType? CrmEntityType { get; init; }
    /// <summary><c>CRM_ENTITY_ID</c>.</summary>
    public long? CrmEntityId { get; init; }
    /// <summary><c>SHOW</c>.</summary>
    public bool? Show { get; init; }
    /// <summary><c>ADD_TO_CHAT</c>.</summary>
    public bool? AddToChat { get; init; }
    /// <summary><c>CALL_LIST_ID</c>.</summary>
    public long? CallListId { get; init; }
    /// <summary><c>LINE_NUMBER</c>: the external line's NUMBER (needed for incoming calls).</summary>
    public string? LineNumber { get; init; }
}

/// <summary>A CRM entity created during registration.</summary>
/// <param name="EntityType">The entity type.</param>
/// <param name="EntityId">The entity id.</param>
public sealed record CrmEntityRef(CrmEntityType? EntityType, long? EntityId);

/// <summary>The answer of <c>register</c>.</summary>
/// <param name="CallId">The Bitrix24 <c>CALL_ID</c>.</param>
/// <param name="CrmCreatedLead">The lead created, if any.</param>
/// <param name="CrmCreatedEntities">Entities created.</param>
/// <param name="CrmEntityType">The entity the call is bound to.</param>
/// <param name="CrmEntityId">Its id.</param>
/// <param name="LeadCreationError">Set when the portal answered 200 but could not create the lead: a 200 is not "all good".</param>
public sealed record RegisteredCall(string CallId, long? CrmCreatedLead, IReadOnlyList<CrmEntityRef> CrmCreatedEntities,
    CrmEntityType? CrmEntityType, long? CrmEntityId, string? LeadCreationError);

/// <summary>Parameters of <c>telephony.externalCall.finish</c> (EN-docs telephony-external-call-finish.md).</summary>
public sealed record FinishCallRequest
{
    /// <summary><c>CALL_ID</c> from register.</summary>
    public required string CallId { get; init; }
    /// <summary><c>USER_ID</c>; set this or <see cref="UserPhoneInner"/>.</summary>
    public long? UserId { get; init; }
    /// <summary><c>USER_PHONE_INNER</c>; set this or <see cref="UserId"/>.</summary>
    public string? UserPhoneInner { get; init; }
    /// <summary><c>DURATION</c>, sent in whole seconds.</summary>
    public TimeSpan? Duration { get; init; }
    /// <summary><c>COST</c>.</summary>
    public decimal? Cost { get; init; }
    /// <summary><c>COST_CURRENCY</c>.</summary>
    public string? CostCurrency { get; init; }
    /// <summary><c>STATUS_CODE</c> (200, 304, 603-S, …).</summary>
    public CallStatusCode? StatusCode { get; init; }
    /// <summary><c>FAILED_REASON</c>.</summary>
    public string? FailedReason { get; init; }
    /// <summary><c>VOTE</c>, 1..5.</summary>
    public int? Vote { get; init; }
    /// <summary><c>ADD_TO_CHAT</c>.</summary>
    public bool? AddToChat { get; init; }
}

/// <summary>The statistics record <c>finish</c> returns (the fields Switchboard uses; the rest in <see cref="Raw"/>).</summary>
/// <param name="Id">Statistics <c>ID</c>.</param>
/// <param name="CallId"><c>CALL_ID</c>.</param>
/// <param name="ExternalCallId"><c>EXTERNAL_CALL_ID</c>.</param>
/// <param name="CallFailedCode"><c>CALL_FAILED_CODE</c>.</param>
/// <param name="CrmActivityId"><c>CRM_ACTIVITY_ID</c>.</param>
/// <param name="Raw">The whole <c>result</c>.</param>
public sealed record FinishedCall(long? Id, string? CallId, string? ExternalCallId, CallStatusCode? CallFailedCode, long? CrmActivityId, JsonElement Raw);

/// <summary>The recording was attached (<c>{"FILE_ID": n}</c>).</summary>
/// <param name="FileId">The Drive file id, when sent.</param>
/// <param name="Raw">The whole <c>result</c>.</param>
public sealed record AttachedRecord(long? FileId, JsonElement Raw);

/// <summary>The responsible user of a CRM match.</summary>
/// <param name="Id">User id.</param>
/// <param name="TimemanStatus">OPENED, CLOSED, PAUSED, EXPIRED, UNAVAILABLE, NOT_INSTALLED.</param>
/// <param name="UserPhoneInner">The user's extension.</param>
public sealed record AssignedUser(long? Id, string? TimemanStatus, string? UserPhoneInner);

/// <summary>One answer of <c>searchCrmEntities</c>, in the server's priority order.</summary>
/// <param name="EntityType">CONTACT, COMPANY or LEAD.</param>
/// <param name="EntityId">Entity id.</param>
/// <param name="Name">Its name.</param>
/// <param name="AssignedById">Responsible user id.</param>
/// <param name="AssignedBy">Responsible user details.</param>
public sealed record CrmEntityMatch(CrmEntityType? EntityType, long? EntityId, string? Name, long? AssignedById, AssignedUser? AssignedBy);

/// <summary>An external line of this application.</summary>
/// <param name="Number"><c>NUMBER</c>.</param>
/// <param name="Name"><c>NAME</c>.</param>
/// <param name="CrmAutoCreate"><c>CRM_AUTO_CREATE</c> (Y/N).</param>
public sealed record ExternalLine(string Number, string? Name, bool? CrmAutoCreate);

/// <summary>What <c>app.info</c> says about the application on this portal.</summary>
/// <param name="Id"><c>ID</c>.</param>
/// <param name="Code"><c>CODE</c>.</param>
/// <param name="Version"><c>VERSION</c>.</param>
/// <param name="Status"><c>STATUS</c>.</param>
/// <param name="Installed"><c>INSTALLED</c>.</param>
/// <param name="Raw">The whole <c>result</c>.</param>
public sealed record AppInfo(long? Id, string? Code, string? Version, ApplicationStatus? Status, bool? Installed, JsonElement Raw);

/// <summary>How <c>event.bind</c> ended.</summary>
public enum EventBindOutcome
{
    /// <summary>Bound now.</summary>
    Bound,
    /// <summary>The same handler was bound already ("Handler already binded" / "Unable to set event handler").</summary>
    AlreadyBound,
}

/// <summary>A user from <c>user.get</c>.</summary>
/// <param name="Id"><c>ID</c>.</param>
/// <param name="Active"><c>ACTIVE</c>.</param>
/// <param name="Name"><c>NAME</c>.</param>
/// <param name="LastName"><c>LAST_NAME</c>.</param>
/// <param name="PhoneInner"><c>UF_PHONE_INNER</c>: the extension.</param>
/// <param name="Raw">The whole record.</param>
public sealed record PortalUser(long Id, bool? Active, string? Name, string? LastName, string? PhoneInner, JsonElement Raw);
