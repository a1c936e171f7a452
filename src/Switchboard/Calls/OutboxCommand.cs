using System.Globalization;

namespace Switchboard.Calls;

/// <summary>
/// Something the ledger wants done in Bitrix24 or on the PBX. <see cref="Key"/> is deterministic: the
/// same call and target always give the same key, so the outbox can insert with
/// <c>ON CONFLICT (key) DO NOTHING</c> and a command is sent at most once even if the ledger is replayed.
/// </summary>
public abstract record OutboxCommand(string CallId)
{
    /// <summary>The idempotency key, e.g. <c>finish:&lt;CALL_ID&gt;</c>.</summary>
    public abstract string Key { get; }

    private protected static string Join(string verb, string callId, long userId) =>
        string.Create(CultureInfo.InvariantCulture, $"{verb}:{callId}:{userId}");
}

/// <summary>
/// Ask the PBX to place a click-to-call (REFERENCE §5.1). Bitrix24 has already registered the call,
/// so no register goes with it; the call is finished later with the same CALL_ID.
/// </summary>
public sealed record OriginateCall(string CallId, string? PhoneNumber, string? Extension, long? UserId, string? LineNumber)
    : OutboxCommand(CallId)
{
    /// <inheritdoc/>
    public override string Key => "originate:" + CallId;
}

/// <summary>
/// <c>telephony.externalCall.finish</c> (REFERENCE §6.2). Carries no status on purpose: the sender reads
/// <see cref="CallRecord.ToFinishArguments"/> when it sends, so the arguments are the best known, whatever
/// order the legs were reported in.
/// </summary>
public sealed record FinishCall(string CallId) : OutboxCommand(CallId)
{
    /// <inheritdoc/>
    public override string Key => "finish:" + CallId;
}

/// <summary><c>telephony.externalCall.show</c> for one user (REFERENCE §6.3).</summary>
public sealed record ShowCard(string CallId, long UserId) : OutboxCommand(CallId)
{
    /// <inheritdoc/>
    public override string Key => Join("show", CallId, UserId);
}

/// <summary><c>telephony.externalCall.hide</c> for one user (REFERENCE §6.3).</summary>
public sealed record HideCard(string CallId, long UserId) : OutboxCommand(CallId)
{
    /// <inheritdoc/>
    public override string Key => Join("hide", CallId, UserId);
}

/// <summary>
/// <c>telephony.externalCall.attachRecord</c> (REFERENCE §6.4). Only emitted after the finish, because
/// Bitrix24 refuses a recording for a call not yet in its statistics.
/// </summary>
public sealed record AttachRecord(string CallId, string Path) : OutboxCommand(CallId)
{
    /// <inheritdoc/>
    public override string Key => "attachRecord:" + CallId + ":" + Path;
}
