using Switchboard.Bitrix24.Events;

namespace Switchboard.Calls;

/// <summary>
/// One thing the ledger learns about a call: a journalled Bitrix24 event, a PBX fact, or an operator's
/// action. Inputs arrive late, twice and out of order; <see cref="CallLedger.Apply"/> does not care.
/// </summary>
/// <param name="CallId">The Bitrix24 CALL_ID the input is about; the ledger is keyed by it.</param>
public abstract record LedgerInput(string CallId);

/// <summary>A Bitrix24 event as read back from the journal.</summary>
/// <param name="JournalId">The journal row it came from.</param>
/// <param name="ReceivedAt">When Switchboard received it (the journal's clock).</param>
/// <param name="Event">The typed event. Only events with a CALL_ID can be folded: see <see cref="CallLedger.Folds"/>.</param>
public sealed record Bitrix24Input(long JournalId, DateTimeOffset ReceivedAt, Bitrix24Event Event) : LedgerInput(Event.CallId ?? string.Empty);

/// <summary>
/// Switchboard registered the call itself (<c>telephony.externalCall.register</c> answered with this
/// CALL_ID; REFERENCE §6.1). Register is synchronous and is what creates the CALL_ID the ledger is keyed
/// by, so whoever calls it (the PBX worker, for incoming and callback calls) reports the result here.
/// </summary>
public sealed record CallRegistered(
    string CallId,
    string MemberId,
    string? ExternalCallId,
    CallDirection Direction,
    string PhoneNumber,
    string? LineNumber,
    long UserId,
    CrmEntity? Crm,
    DateTimeOffset StartedAt) : LedgerInput(CallId);

/// <summary>What <c>switchboard calls finish</c> sends: an operator ends a call the PBX never reported.</summary>
/// <param name="CallId">The call.</param>
/// <param name="Status">The operator's status code.</param>
/// <param name="Duration">Talk time.</param>
/// <param name="At">When the operator finished it.</param>
/// <param name="UserId">The user to report the call for when the ledger knows neither who clicked nor who answered (finish needs one).</param>
public sealed record ManualFinish(string CallId, CallStatusCode Status, TimeSpan Duration, DateTimeOffset At, long? UserId = null) : LedgerInput(CallId);

/// <summary>The PBX saw a leg of the call answered, by this extension (mapped to a Bitrix24 user when known).</summary>
public sealed record PbxAnswered(string CallId, string? Extension, long? UserId, DateTimeOffset At) : LedgerInput(CallId);

/// <summary>
/// The PBX saw a leg of the call end. The hangup cause is mapped to a status code at the PBX edge
/// (FIELD-LESSONS "what the best do": cause 16 → 200, 17 → 486, …; unanswered inbound → 304).
/// A call can report several of these (IVR, queue, transfer legs).
/// </summary>
/// <param name="CallId">The call.</param>
/// <param name="Status">The status the leg ended with.</param>
/// <param name="Duration">Talk time.</param>
/// <param name="At">When it ended.</param>
/// <param name="Reason">Why it failed, in words for the CRM user (finish's FAILED_REASON); null when it did not.</param>
/// <param name="Reconstructed">True when the end was inferred after an outage (the PBX no longer had the call), not seen.</param>
public sealed record PbxHungUp(string CallId, CallStatusCode Status, TimeSpan Duration, DateTimeOffset At, string? Reason = null, bool Reconstructed = false) : LedgerInput(CallId);

/// <summary>
/// The PBX connector is about to write an Originate for a click-to-call: committed BEFORE the action
/// reaches the socket, so that after a crash or a cut connection a retry knows the phone may already
/// be ringing and looks for the call instead of ringing it again.
/// </summary>
/// <param name="CallId">The call.</param>
/// <param name="Pbx">The PBX's name in the settings.</param>
/// <param name="PbxCallId">The ChannelId given to Asterisk: the Uniqueid and Linkedid of the call's legs.</param>
/// <param name="AttemptId">This attempt's id (unique per attempt).</param>
/// <param name="Extension">The user's extension being rung.</param>
/// <param name="At">When.</param>
public sealed record OriginateBegun(string CallId, string Pbx, string PbxCallId, string AttemptId, string Extension, DateTimeOffset At) : LedgerInput(CallId);

/// <summary>The attempt's Originate certainly never reached Asterisk (the connection was gone before it was written): a retry may ring.</summary>
public sealed record OriginateNotSent(string CallId, string AttemptId) : LedgerInput(CallId);

/// <summary>The PBX started recording the call into this file (VarSet MIXMONITOR_FILENAME); it is attached once complete.</summary>
public sealed record RecordingStarted(string CallId, string Path) : LedgerInput(CallId);

/// <summary>Something an operator should know about the call (a recording in a format Bitrix24 refuses, a file that never appeared).</summary>
public sealed record CallProblem(string CallId, string Message) : LedgerInput(CallId);

/// <summary>The PBX finished writing a recording of the call (the file stopped growing).</summary>
public sealed record RecordingReady(string CallId, string Path, DateTimeOffset At) : LedgerInput(CallId);
