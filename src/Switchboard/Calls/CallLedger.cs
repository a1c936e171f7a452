using Switchboard.Bitrix24.Events;

namespace Switchboard.Calls;

/// <summary>
/// The call ledger: a pure fold from (what we knew, one new input) to (what we know now, commands to send).
/// No storage, no clock, no I/O; the caller persists the record and the commands together.
/// </summary>
/// <remarks>
/// Events arrive late, twice and out of order (Bitrix24 never re-sends, but the journal may be replayed,
/// offline events overlap with pushed ones, and PBX facts travel on another path). Two rules make the
/// result independent of that order:
/// <list type="number">
/// <item>Every field of <see cref="CallRecord"/> is merged by an order-free rule (earliest, latest,
/// precedence, union), so any permutation of the same inputs, with any repeats, gives the same record.</item>
/// <item>Commands are a function of the merged record (<see cref="Due"/>), never of the input that
/// happened to arrive; each is emitted the first time the record calls for it and its key is remembered
/// in <see cref="CallRecord.Emitted"/>. The conditions only ever become true, so the set of commands
/// emitted over a whole sequence is the same whatever the order, each exactly once.</item>
/// </list>
/// Bitrix24's ONVOXIMPLANTCALLINIT/START/END also fire for calls Switchboard registered or finished itself
/// (REFERENCE §5.3, §5.5; FIELD-LESSONS "echoes"). They are recorded but no command depends on them, so an
/// echo can never start a loop.
/// </remarks>
public static class CallLedger
{
    /// <summary>True for the Bitrix24 events the ledger folds: telephony events that name a CALL_ID.</summary>
    /// <remarks>ONEXTERNALCALLBACKSTART has no CALL_ID (§5.2): register the callback first, then fold <see cref="CallRegistered"/>.</remarks>
    public static bool Folds(Bitrix24Event e) =>
        e is ExternalCallStartEvent or VoximplantCallInitEvent or VoximplantCallStartEvent or VoximplantCallEndEvent
        && !string.IsNullOrEmpty(e.CallId);

    /// <summary>Folds one input into the call's record.</summary>
    /// <param name="current">The record so far, or null for a call not seen yet.</param>
    /// <param name="input">The new input, for the same CALL_ID.</param>
    /// <returns>The new record and the commands not emitted before, in the order to send them.</returns>
    /// <exception cref="ArgumentException">The input has no CALL_ID or is about another call (a routing bug).</exception>
    public static (CallRecord Next, IReadOnlyList<OutboxCommand> NewCommands) Apply(CallRecord? current, LedgerInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (string.IsNullOrEmpty(input.CallId))
        {
            throw new ArgumentException("The input names no CALL_ID; check CallLedger.Folds before applying an event.", nameof(input));
        }

        if (current is not null && !string.Equals(current.CallId, input.CallId, StringComparison.Ordinal))
        {
            throw new ArgumentException("The input is about another call than the record.", nameof(input));
        }

        var merged = Merge(current ?? new CallRecord { CallId = input.CallId }, input);
        List<OutboxCommand>? fresh = null;
        var emitted = merged.Emitted;
        foreach (var command in Due(merged))
        {
            if (!emitted.Contains(command.Key))
            {
                (fresh ??= []).Add(command);
                emitted = emitted.Add(command.Key);
            }
        }

        // Most inputs emit nothing (echoes, repeats): then the merged record is the answer as it is.
        return fresh is null ? (merged, []) : (merged with { Emitted = emitted }, fresh);
    }

    private static CallRecord Merge(CallRecord r, LedgerInput input) => input switch
    {
        Bitrix24Input b => MergeEvent(r with
        {
            MemberId = Smallest(r.MemberId, b.Event.Auth.MemberId),
            LastJournalId = r.LastJournalId is { } last ? Math.Max(last, b.JournalId) : b.JournalId,
            EventsSeen = r.EventsSeen.Add(b.Event.Name),
        }, b),

        CallRegistered reg => r with
        {
            MemberId = Smallest(r.MemberId, reg.MemberId),
            ExternalCallId = Smallest(r.ExternalCallId, reg.ExternalCallId),
            Direction = Smallest(r.Direction, reg.Direction),
            PhoneNumber = Smallest(r.PhoneNumber, reg.PhoneNumber),
            LineNumber = Smallest(r.LineNumber, reg.LineNumber),
            UserId = Smallest(r.UserId, reg.UserId),
            Crm = Smallest(r.Crm, reg.Crm),
            RequestedAt = Earliest(r.RequestedAt, reg.StartedAt),
        },

        // Being answered is itself an outcome: a 200, whatever a later leg says (FIELD-LESSONS item 5).
        PbxAnswered a => r with
        {
            AnsweredAt = Earliest(r.AnsweredAt, a.At),
            LastAnswer = Later(r.LastAnswer, new CallAnswer(a.At, a.UserId, Blank(a.Extension))),
            AnsweredBy = a.UserId is { } user ? r.AnsweredBy.Add(user) : r.AnsweredBy,
            Outcome = StatusPrecedence.Better(r.Outcome, new CallOutcome(CallStatusCode.Success, TimeSpan.Zero)),
        },

        PbxHungUp h => Ended(r, h.Status, h.Duration, h.At, h.Reason) with { Reconstructed = r.Reconstructed || h.Reconstructed },

        OriginateBegun o => r with
        {
            Pbx = Smallest(r.Pbx, o.Pbx),
            PbxCallId = Smallest(r.PbxCallId, o.PbxCallId),
            Extension = Smallest(r.Extension, Blank(o.Extension)),
            OriginateAttempts = r.OriginateAttempts.Add(o.AttemptId),
        },

        OriginateNotSent n => r with { OriginatesNotSent = r.OriginatesNotSent.Add(n.AttemptId) },

        RecordingStarted rs => r with { RecordingFiles = r.RecordingFiles.Add(rs.Path) },

        CallProblem p => r with { Problems = r.Problems.Add(p.Message) },

        // An operator's finish is one more outcome, not an override: it cannot turn an answered call into a missed one.
        // The operator's user: the latest one named wins (a correction), unlike the merged facts above.
        ManualFinish m => Ended(r, m.Status, m.Duration, m.At) with { ManualUserId = m.UserId ?? r.ManualUserId },

        RecordingReady rec => r with { Recordings = r.Recordings.Add(rec.Path) },

        _ => throw new ArgumentException("Unknown ledger input " + input.GetType().Name, nameof(input)),
    };

    private static CallRecord MergeEvent(CallRecord r, Bitrix24Input b) => b.Event switch
    {
        // Click-to-call: Bitrix24 registered the call already (REFERENCE §5.1), we only have to originate it.
        ExternalCallStartEvent e => r with
        {
            ClickToCall = true,
            Direction = Smallest(r.Direction, CallDirection.Outgoing),
            PhoneNumber = Smallest(r.PhoneNumber, Blank(e.PhoneNumber)),
            Extension = Smallest(r.Extension, Blank(e.Extension)),
            LineNumber = Smallest(r.LineNumber, Blank(e.LineNumber)),
            UserId = Smallest(r.UserId, e.UserId),
            Crm = Smallest(r.Crm, e.CrmEntityType is { } type && e.CrmEntityId is { } id ? new CrmEntity(type, id) : null),
            RequestedAt = Earliest(r.RequestedAt, e.SentAt ?? b.ReceivedAt),
        },

        // What Bitrix24 wrote to its history; usually the echo of our own finish. Kept apart from Outcome.
        VoximplantCallEndEvent e when e.CallFailedCode is { } code => r with
        {
            Bitrix24Outcome = StatusPrecedence.Better(r.Bitrix24Outcome, new CallOutcome(code, NotNegative(e.CallDuration ?? TimeSpan.Zero))),
        },

        // ONVOXIMPLANTCALLINIT/START: echoes of our register and of the answer; seen, nothing more.
        _ => r,
    };

    private static CallRecord Ended(CallRecord r, CallStatusCode status, TimeSpan duration, DateTimeOffset at, string? reason = null) => r with
    {
        EndKnown = true,
        EndedAt = Later(r.EndedAt, at),
        Outcome = StatusPrecedence.Better(r.Outcome, new CallOutcome(status, NotNegative(duration), Blank(reason))),
    };

    /// <summary>Every command the record calls for, emitted or not; <see cref="Apply"/> subtracts the emitted ones.</summary>
    private static IEnumerable<OutboxCommand> Due(CallRecord r)
    {
        if (r.ClickToCall)
        {
            yield return new OriginateCall(r.CallId, r.PhoneNumber, r.Extension, r.UserId, r.LineNumber);
        }

        // Bitrix24 shows the card to the owner itself (click, or register with SHOW=1). When someone else
        // answers (a queue or ring-group member, a transfer), the card moves to them: show theirs, hide the
        // owner's (FIELD-LESSONS item 7). Decided only once the owner is known, so it does not depend on
        // whether the answer or the call's start arrived first.
        if (r.UserId is { } owner)
        {
            var others = false;
            foreach (var user in r.AnsweredBy.Items)
            {
                if (user != owner)
                {
                    others = true;
                    yield return new ShowCard(r.CallId, user);
                }
            }

            if (others)
            {
                yield return new HideCard(r.CallId, owner);
            }
        }

        // Finish only on our own knowledge that the call is over (PBX hangup or manual finish), never on
        // Bitrix24's ONVOXIMPLANTCALLEND, which is the echo of a finish (REFERENCE §5.5).
        if (r.EndKnown)
        {
            yield return new FinishCall(r.CallId);

            // attachRecord fails until the call is in Bitrix24's statistics, i.e. after finish (§6.4).
            foreach (var path in r.Recordings.Items)
            {
                yield return new AttachRecord(r.CallId, path);
            }
        }
    }

    private static TimeSpan NotNegative(TimeSpan duration) => duration < TimeSpan.Zero ? TimeSpan.Zero : duration;

    private static string? Blank(string? text) => string.IsNullOrWhiteSpace(text) ? null : text;

    // Where two sources disagree on a value that should be the same, the smaller one wins: arbitrary but
    // order-free, which is all convergence needs.
    private static string? Smallest(string? a, string? b) =>
        a is null ? b : b is null ? a : string.CompareOrdinal(a, b) <= 0 ? a : b;

    private static T? Smallest<T>(T? a, T? b) where T : struct =>
        a is null ? b : b is null ? a : Comparer<T>.Default.Compare(a.Value, b.Value) <= 0 ? a : b;

    private static CrmEntity? Smallest(CrmEntity? a, CrmEntity? b)
    {
        if (a is null || b is null)
        {
            return a ?? b;
        }

        var byType = string.CompareOrdinal(a.Type.Code, b.Type.Code);
        return byType < 0 || (byType == 0 && a.Id <= b.Id) ? a : b;
    }

    // Instants compare first; two spellings of the same instant are told apart by their offset, so the
    // offset kept does not depend on which arrived first.
    private static int Compare(DateTimeOffset a, DateTimeOffset b)
    {
        var byInstant = a.UtcTicks.CompareTo(b.UtcTicks);
        return byInstant != 0 ? byInstant : a.Offset.CompareTo(b.Offset);
    }

    private static DateTimeOffset? Earliest(DateTimeOffset? a, DateTimeOffset b) =>
        a is { } x && Compare(x, b) <= 0 ? x : b;

    private static DateTimeOffset? Later(DateTimeOffset? a, DateTimeOffset b) =>
        a is { } x && Compare(x, b) >= 0 ? x : b;

    private static CallAnswer Later(CallAnswer? a, CallAnswer b)
    {
        if (a is null)
        {
            return b;
        }

        var order = Compare(a.At, b.At);
        if (order == 0)
        {
            order = Nullable.Compare(a.UserId, b.UserId);
        }

        if (order == 0)
        {
            order = string.CompareOrdinal(a.Extension, b.Extension);
        }

        return order >= 0 ? a : b;
    }
}
