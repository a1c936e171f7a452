namespace Switchboard.Bitrix24.Events;

/// <summary>
/// A CRM entity type as Bitrix24 names it (<c>CONTACT</c>, <c>COMPANY</c>, <c>LEAD</c>). A struct over
/// the text, not a closed enum, so a type Bitrix24 adds tomorrow (e.g. <c>DEAL</c>) parses instead of failing.
/// </summary>
public readonly record struct CrmEntityType(string Code)
{
    /// <summary>CONTACT.</summary>
    public static CrmEntityType Contact { get; } = new("CONTACT");

    /// <summary>COMPANY.</summary>
    public static CrmEntityType Company { get; } = new("COMPANY");

    /// <summary>LEAD.</summary>
    public static CrmEntityType Lead { get; } = new("LEAD");

    /// <summary>True for the three documented types.</summary>
    public bool IsKnown => Code is "CONTACT" or "COMPANY" or "LEAD";

    /// <summary>Upper-cases the code; null for an absent or empty value.</summary>
    public static CrmEntityType? From(string? code) =>
        string.IsNullOrWhiteSpace(code) ? null : new CrmEntityType(code.Trim().ToUpperInvariant());

    /// <inheritdoc/>
    public override string ToString() => Code;
}

/// <summary>
/// A call's status code as <c>telephony.externalCall.finish</c> takes it and <c>ONVOXIMPLANTCALLEND</c>
/// reports it in <c>CALL_FAILED_CODE</c>. Text, because two documented codes are not numbers:
/// <c>603-S</c> (cancelled) and <c>OTHER</c> (EN-docs telephony-external-call-finish.md). The official
/// PHP SDK's int enum cannot hold them; this type holds any code.
/// </summary>
public readonly record struct CallStatusCode(string Code)
{
    /// <summary>200, success.</summary>
    public static CallStatusCode Success { get; } = new("200");
    /// <summary>304, missed.</summary>
    public static CallStatusCode Missed { get; } = new("304");
    /// <summary>603, declined.</summary>
    public static CallStatusCode Declined { get; } = new("603");
    /// <summary>603-S, cancelled.</summary>
    public static CallStatusCode Cancelled { get; } = new("603-S");
    /// <summary>403, forbidden.</summary>
    public static CallStatusCode Forbidden { get; } = new("403");
    /// <summary>404, invalid number.</summary>
    public static CallStatusCode InvalidNumber { get; } = new("404");
    /// <summary>486, busy.</summary>
    public static CallStatusCode Busy { get; } = new("486");
    /// <summary>484, direction unavailable.</summary>
    public static CallStatusCode AddressIncomplete { get; } = new("484");
    /// <summary>503, direction unavailable.</summary>
    public static CallStatusCode ServiceUnavailable { get; } = new("503");
    /// <summary>480, temporarily unavailable.</summary>
    public static CallStatusCode TemporarilyUnavailable { get; } = new("480");
    /// <summary>402, insufficient funds.</summary>
    public static CallStatusCode InsufficientFunds { get; } = new("402");
    /// <summary>423, blocked.</summary>
    public static CallStatusCode Blocked { get; } = new("423");
    /// <summary>OTHER, undefined.</summary>
    public static CallStatusCode Other { get; } = new("OTHER");

    private static readonly HashSet<string> Documented =
        ["200", "304", "603", "603-S", "403", "404", "486", "484", "503", "480", "402", "423", "OTHER"];

    /// <summary>True for the codes the finish method documents.</summary>
    public bool IsKnown => Documented.Contains(Code);

    /// <summary>True for 200.</summary>
    public bool IsSuccess => Code == "200";

    /// <summary>Trims and upper-cases (<c>603-s</c> → <c>603-S</c>); null for an absent or empty value.</summary>
    public static CallStatusCode? From(string? code) =>
        string.IsNullOrWhiteSpace(code) ? null : new CallStatusCode(code.Trim().ToUpperInvariant());

    /// <inheritdoc/>
    public override string ToString() => Code;
}

/// <summary>
/// The application's status letter in <c>auth[status]</c> and <c>app.info</c>: L local, F free, D demo,
/// T trial, P paid, S subscription (EN-docs _includes/auth-params-in-events.md, app-info.md; S from
/// RU-docs on-app-payment.md). Unknown letters are kept, not rejected.
/// </summary>
public readonly record struct ApplicationStatus(string Code)
{
    /// <summary>L.</summary>
    public static ApplicationStatus Local { get; } = new("L");
    /// <summary>F.</summary>
    public static ApplicationStatus Free { get; } = new("F");
    /// <summary>D.</summary>
    public static ApplicationStatus Demo { get; } = new("D");
    /// <summary>T.</summary>
    public static ApplicationStatus Trial { get; } = new("T");
    /// <summary>P.</summary>
    public static ApplicationStatus Paid { get; } = new("P");
    /// <summary>S.</summary>
    public static ApplicationStatus Subscription { get; } = new("S");

    /// <summary>True for the six documented letters.</summary>
    public bool IsKnown => Code is "L" or "F" or "D" or "T" or "P" or "S";

    /// <summary>Null for an absent or empty value.</summary>
    public static ApplicationStatus? From(string? code) =>
        string.IsNullOrWhiteSpace(code) ? null : new ApplicationStatus(code.Trim().ToUpperInvariant());

    /// <inheritdoc/>
    public override string ToString() => Code;
}

/// <summary>
/// <c>CALL_TYPE</c> / <c>TYPE</c>: 1 outgoing, 2 incoming, 3 incoming with redirection, 4 callback,
/// 5 informational (EN-docs on-voximplant-call-init.md). An enum can hold any int, so an unknown
/// number is kept as it is.
/// </summary>
public enum CallType
{
    /// <summary>1.</summary>
    Outgoing = 1,
    /// <summary>2.</summary>
    Incoming = 2,
    /// <summary>3.</summary>
    IncomingWithRedirect = 3,
    /// <summary>4.</summary>
    Callback = 4,
    /// <summary>5.</summary>
    Informational = 5,
}

/// <summary>A field whose text did not fit its documented type; the event is kept, the field reads as null.</summary>
/// <param name="Field">The wire name, e.g. <c>data[USER_ID]</c>.</param>
/// <param name="Expected">What was expected, e.g. "an integer". Never the value itself.</param>
public sealed record FieldProblem(string Field, string Expected);
