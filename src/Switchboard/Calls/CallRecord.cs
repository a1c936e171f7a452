using System.Collections.Immutable;
using System.Text.Json.Serialization;
using Switchboard.Bitrix24.Events;

namespace Switchboard.Calls;

/// <summary>Which way the call goes, as far as the CRM is concerned.</summary>
public enum CallDirection
{
    /// <summary>We call the client (click-to-call, REFERENCE §5.1; register TYPE=1).</summary>
    Outgoing = 1,
    /// <summary>The client calls us (register TYPE=2).</summary>
    Incoming = 2,
    /// <summary>A CRM callback form asked us to call the client (§5.2; register TYPE=4).</summary>
    Callback = 4,
}

/// <summary>The CRM entity a call is bound to.</summary>
public sealed record CrmEntity(CrmEntityType Type, long Id);

/// <summary>The best known outcome of a call: a status and the duration reported with it.</summary>
/// <param name="Status">The status code, as <c>telephony.externalCall.finish</c> takes it.</param>
/// <param name="Duration">Talk time reported together with <paramref name="Status"/>; never negative.</param>
/// <param name="Reason">Why the call failed, for the CRM user (finish's FAILED_REASON); null for a call that did not fail or whose reason is not known.</param>
public sealed record CallOutcome(CallStatusCode Status, TimeSpan Duration, string? Reason = null);

/// <summary>A PBX report that the call was answered, and by whom.</summary>
public sealed record CallAnswer(DateTimeOffset At, long? UserId, string? Extension);

/// <summary>
/// Everything the ledger knows about one call. Immutable; every field is merged by a rule that does not
/// depend on the order of inputs (min, max, precedence, set union), which is what makes
/// <see cref="CallLedger.Apply"/> converge on one record whatever order events arrive in.
/// </summary>
public sealed record CallRecord
{
    /// <summary>Bitrix24's CALL_ID.</summary>
    public required string CallId { get; init; }

    /// <summary>The PBX's id we sent as EXTERNAL_CALL_ID when we registered (FIELD-LESSONS item 3); null for click-to-call.</summary>
    public string? ExternalCallId { get; init; }

    /// <summary>The portal's <c>member_id</c>.</summary>
    public string? MemberId { get; init; }

    /// <summary>Null until the call is known from our own side (click-to-call event or our registration).</summary>
    public CallDirection? Direction { get; init; }

    /// <summary>True once ONEXTERNALCALLSTART was seen: the PBX has to originate this call.</summary>
    public bool ClickToCall { get; init; }

    /// <summary>The client's number.</summary>
    public string? PhoneNumber { get; init; }

    /// <summary>The extension the click-to-call event named, if any.</summary>
    public string? Extension { get; init; }

    /// <summary>The external line.</summary>
    public string? LineNumber { get; init; }

    /// <summary>The call's owner: who clicked, or whom we registered it for. Bitrix24 shows them the card itself.</summary>
    public long? UserId { get; init; }

    /// <summary>The user an operator named in <c>calls finish --user</c>: reported only when neither the owner nor an answering user is known.</summary>
    public long? ManualUserId { get; init; }

    /// <summary>The CRM entity.</summary>
    public CrmEntity? Crm { get; init; }

    /// <summary>When the call was asked for (click) or registered; earliest seen.</summary>
    public DateTimeOffset? RequestedAt { get; init; }

    /// <summary>When the conversation began: the earliest PBX answer.</summary>
    public DateTimeOffset? AnsweredAt { get; init; }

    /// <summary>When the call ended: the latest PBX hangup or manual finish (an IVR leg may end after the talk).</summary>
    public DateTimeOffset? EndedAt { get; init; }

    /// <summary>The latest PBX answer: who had the call last (a transfer moves it; FIELD-LESSONS item 6).</summary>
    public CallAnswer? LastAnswer { get; init; }

    /// <summary>Every Bitrix24 user the PBX reported answering a leg.</summary>
    public ValueSet<long> AnsweredBy { get; init; } = ValueSet.Empty<long>();

    /// <summary>Our outcome, from the PBX and manual finishes, by <see cref="StatusPrecedence"/>. What we send with finish.</summary>
    public CallOutcome? Outcome { get; init; }

    /// <summary>
    /// What Bitrix24 says it recorded (ONVOXIMPLANTCALLEND), kept apart from <see cref="Outcome"/>: it is
    /// mostly the echo of our own finish (FIELD-LESSONS "echoes"), useful to spot a mismatch, never a cause.
    /// </summary>
    public CallOutcome? Bitrix24Outcome { get; init; }

    /// <summary>True once the PBX or an operator said the call is over.</summary>
    public bool EndKnown { get; init; }

    /// <summary>Recording files reported ready.</summary>
    public ValueSet<string> Recordings { get; init; } = ValueSet.Empty<string>();

    /// <summary>Bitrix24 telephony events seen for this call, by name (echoes included).</summary>
    public ValueSet<string> EventsSeen { get; init; } = ValueSet.Empty<string>();

    /// <summary>The highest journal id folded in.</summary>
    public long? LastJournalId { get; init; }

    /// <summary>Idempotency keys of the commands already emitted; a key is emitted once, ever.</summary>
    public ValueSet<string> Emitted { get; init; } = ValueSet.Empty<string>();

    /// <summary>The PBX (its name in the settings) that carries the call.</summary>
    public string? Pbx { get; init; }

    /// <summary>The call's id on the PBX: the ChannelId Switchboard gave the Originate, the Linkedid of every leg.</summary>
    public string? PbxCallId { get; init; }

    /// <summary>Originate attempts begun (<see cref="OriginateBegun"/>): each may have rung the phone.</summary>
    public ValueSet<string> OriginateAttempts { get; init; } = ValueSet.Empty<string>();

    /// <summary>Attempts known never to have reached the PBX (<see cref="OriginateNotSent"/>).</summary>
    public ValueSet<string> OriginatesNotSent { get; init; } = ValueSet.Empty<string>();

    /// <summary>Recording files the PBX started (attached once complete: <see cref="Recordings"/>).</summary>
    public ValueSet<string> RecordingFiles { get; init; } = ValueSet.Empty<string>();

    /// <summary>What an operator should know about the call.</summary>
    public ValueSet<string> Problems { get; init; } = ValueSet.Empty<string>();

    /// <summary>True when the end was inferred after an outage rather than seen.</summary>
    public bool Reconstructed { get; init; }

    /// <summary>True when an Originate may have reached the PBX: a retry must look for the call, never ring again.</summary>
    [JsonIgnore]
    public bool OriginateMayHaveRung => OriginateAttempts.Items.Any(a => !OriginatesNotSent.Contains(a));

    /// <summary>
    /// The arguments for <c>telephony.externalCall.finish</c> (REFERENCE §6.2) as of now, or null before
    /// the end is known. The outbox reads them when it sends <see cref="FinishCall"/>, not when the command
    /// is emitted, so a late "answered" leg still counts if it arrives before the send.
    /// </summary>
    public FinishArguments? ToFinishArguments()
    {
        if (!EndKnown)
        {
            return null;
        }

        // finish needs USER_ID: the last user who talked, else the owner (FIELD-LESSONS item 6).
        var user = LastAnswer?.UserId ?? UserId ?? ManualUserId;
        var outcome = Outcome ?? new CallOutcome(CallStatusCode.Missed, TimeSpan.Zero);
        return new FinishArguments(CallId, user, outcome.Duration, outcome.Status, outcome.Reason);
    }
}

/// <summary>The parameters of one <c>telephony.externalCall.finish</c> request.</summary>
/// <param name="CallId">CALL_ID.</param>
/// <param name="UserId">USER_ID; null when neither the owner nor an answering user is known.</param>
/// <param name="Duration">DURATION, to be sent in whole seconds.</param>
/// <param name="Status">STATUS_CODE.</param>
/// <param name="FailedReason">FAILED_REASON, or null.</param>
public sealed record FinishArguments(string CallId, long? UserId, TimeSpan Duration, CallStatusCode Status, string? FailedReason = null);

/// <summary>
/// An immutable sorted set that compares by content, so a <see cref="CallRecord"/> is equal to another
/// with the same facts (ImmutableSortedSet alone compares by reference).
/// </summary>
public sealed class ValueSet<T> : IEquatable<ValueSet<T>>
    where T : IComparable<T>
{
    [JsonConstructor]
    private ValueSet(ImmutableSortedSet<T> items) => Items = items;

    /// <summary>An empty set.</summary>
    public ValueSet()
        : this(ImmutableSortedSet<T>.Empty)
    {
    }

    /// <summary>A set of these members; duplicates collapse.</summary>
    public ValueSet(IEnumerable<T> items)
        : this(ImmutableSortedSet.CreateRange(items ?? throw new ArgumentNullException(nameof(items))))
    {
    }

    /// <summary>The members, in order.</summary>
    public ImmutableSortedSet<T> Items { get; }

    /// <summary>How many.</summary>
    [JsonIgnore]
    public int Count => Items.Count;

    /// <summary>True when <paramref name="item"/> is a member.</summary>
    public bool Contains(T item) => Items.Contains(item);

    /// <summary>This set with <paramref name="item"/> added.</summary>
    public ValueSet<T> Add(T item) => Items.Contains(item) ? this : new(Items.Add(item));

    /// <summary>The union of both sets.</summary>
    public ValueSet<T> Union(ValueSet<T> other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return other.Items.IsSubsetOf(Items) ? this : new(Items.Union(other.Items));
    }

    /// <inheritdoc/>
    public bool Equals(ValueSet<T>? other) => other is not null && Items.SetEquals(other.Items);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as ValueSet<T>);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var item in Items)
        {
            hash.Add(item);
        }

        return hash.ToHashCode();
    }

    /// <inheritdoc/>
    public override string ToString() => "[" + string.Join(", ", Items) + "]";
}

/// <summary>Shared instances of <see cref="ValueSet{T}"/>.</summary>
public static class ValueSet
{
    /// <summary>The empty set, one per element type (the sets are immutable): a new call's record starts with four of them.</summary>
    public static ValueSet<T> Empty<T>()
        where T : IComparable<T> => EmptyOf<T>.Value;

    private static class EmptyOf<T>
        where T : IComparable<T>
    {
        public static readonly ValueSet<T> Value = new();
    }
}
