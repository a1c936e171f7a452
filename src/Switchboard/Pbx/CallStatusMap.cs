using Switchboard.Bitrix24.Events;

namespace Switchboard.Pbx;

/// <summary>A status for telephony.externalCall.finish and the reason shown with it (FAILED_REASON).</summary>
public sealed record StatusWithReason(CallStatusCode Status, string? Reason);

/// <summary>
/// What Asterisk reports, mapped to Bitrix24's STATUS_CODE
/// (https://apidocs.bitrix24.com/api-reference/telephony/telephony-external-call-finish.html): 200
/// answered, 304 missed, 603-S cancelled, 486 busy, 480 unavailable, 503 direction unavailable, 404
/// invalid number, 484 incomplete, 603 declined.
/// </summary>
public static class CallStatusMap
{
    /// <summary>
    /// An Async Originate's OriginateResponse Reason: the legacy control code of the first leg, the
    /// user's phone (main/pbx.c, pbx_outgoing: 4 answered, 5 busy, 3 rang without answer, 8 congestion,
    /// 1 hung up, 0 anything else). Null for 4: the user answered, the call goes on.
    /// </summary>
    public static StatusWithReason? FromOriginateReason(int? reason, string extension) => reason switch
    {
        4 => null,
        5 => new(CallStatusCode.Busy, $"The phone of extension {extension} is busy."),
        3 => new(CallStatusCode.Cancelled, $"Extension {extension} did not answer."),
        1 => new(CallStatusCode.Cancelled, $"Extension {extension} hung up before the call was placed."),
        8 => new(CallStatusCode.ServiceUnavailable, $"The PBX reported congestion ringing extension {extension}."),
        _ => new(CallStatusCode.ServiceUnavailable, $"The PBX could not ring extension {extension} (OriginateResponse Reason {reason?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "missing"}): check that it exists and is registered."),
    };

    /// <summary>
    /// The customer leg's DialEnd DialStatus (app_dial: ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION,
    /// CHANUNAVAIL…) on an outgoing call. Null for ANSWER and for statuses that do not end the call
    /// (CONTINUE, GOTO: the dialplan goes on).
    /// </summary>
    public static StatusWithReason? FromCustomerDialStatus(string? dialStatus) => dialStatus?.ToUpperInvariant() switch
    {
        "BUSY" => new(CallStatusCode.Busy, "The customer's line is busy."),
        "NOANSWER" => new(CallStatusCode.TemporarilyUnavailable, "The customer did not answer."),
        "CONGESTION" => new(CallStatusCode.ServiceUnavailable, "The PBX reported congestion calling the customer."),
        "CHANUNAVAIL" => new(CallStatusCode.TemporarilyUnavailable, "The customer's number could not be reached (channel unavailable)."),
        "CANCEL" => new(CallStatusCode.Cancelled, "Hung up before the customer answered."),
        "ABORT" => new(CallStatusCode.Cancelled, "The call was aborted before the customer answered."),
        _ => null,
    };

    /// <summary>
    /// A Hangup Cause (Q.850, include/asterisk/causes.h) of a call that was not answered, where no dial
    /// status said more. 16 (normal), 26 (answered elsewhere) and 127 (what PJSIP makes of a 487 after a
    /// cancel) mean nobody failed: the call was given up.
    /// </summary>
    public static StatusWithReason FromHangupCause(int? cause) => cause switch
    {
        17 => new(CallStatusCode.Busy, "Busy (hangup cause 17)."),
        18 or 19 or 20 => new(CallStatusCode.TemporarilyUnavailable, "No answer (hangup cause " + Text(cause) + ")."),
        21 => new(CallStatusCode.Declined, "Rejected (hangup cause 21)."),
        1 => new(CallStatusCode.InvalidNumber, "Unallocated number (hangup cause 1)."),
        28 => new(CallStatusCode.AddressIncomplete, "Invalid number format (hangup cause 28)."),
        34 or 38 or 41 or 42 => new(CallStatusCode.ServiceUnavailable, "Network congestion or failure (hangup cause " + Text(cause) + ")."),
        _ => new(CallStatusCode.Cancelled, null),
    };

    private static string Text(int? cause) => cause?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?";
}
