namespace Switchboard.Calls;

/// <summary>
/// The ledger's storage key for a CALL_ID: the call's registration time first, so that new calls are
/// written at the end of the ledger's B-tree instead of at random places in it.
/// </summary>
/// <remarks>
/// <para>Bitrix24's CALL_IDs end with the time the call was registered:
/// <c>externalCall.&lt;md5&gt;.&lt;unixts&gt;</c> (REFERENCE.md §5, ONEXTERNALCALLSTART; §6.1 shows
/// <c>"CALL_ID": "externalCall.716f...c568.1773130779"</c>). Keyed by the CALL_ID itself, every new
/// call lands on a random page of the index; a fold of a thousand new calls then rewrites nearly a
/// thousand 4 KiB pages (measured: 9 KiB of WAL per event, copied again at checkpoint, most of the
/// ledger's cost under load). Keyed by time first, new calls fill the last pages, as the journal's do.</para>
/// <para>The key is the trailing number zero-padded to <see cref="StampWidth"/> digits (or blanks when
/// the CALL_ID has no numeric tail, which sort first), then the CALL_ID unchanged. The prefix has a fixed
/// width and is a function of the CALL_ID, so two keys are equal exactly when their CALL_IDs are, and
/// <see cref="CallIdOf"/> gives the CALL_ID back.</para>
/// </remarks>
public static class CallKey
{
    /// <summary>Width of the time prefix: a Unix time in seconds has 10 digits until the year 2286.</summary>
    public const int StampWidth = 12;

    /// <summary>The storage key of <paramref name="callId"/>.</summary>
    public static string Of(string callId)
    {
        ArgumentNullException.ThrowIfNull(callId);
        var stamped = Stamp(callId, out var dot);
        return string.Create(StampWidth + callId.Length, (callId, dot, stamped), static (span, s) =>
        {
            if (s.stamped)
            {
                var digits = s.callId.AsSpan(s.dot + 1);
                span[..(StampWidth - digits.Length)].Fill('0');
                digits.CopyTo(span[(StampWidth - digits.Length)..StampWidth]);
            }
            else
            {
                span[..StampWidth].Fill(' ');
            }

            s.callId.AsSpan().CopyTo(span[StampWidth..]);
        });
    }

    /// <summary>
    /// The outbox's idempotency key for a command of a call at a portal:
    /// <c>&lt;registration second&gt;/&lt;command key&gt;@&lt;member_id&gt;</c>, e.g.
    /// <c>1773130779/originate:externalCall.716f….1773130779@a1b2…</c>; with no numeric tail on the
    /// CALL_ID, just <c>&lt;command key&gt;@&lt;member_id&gt;</c>.
    /// </summary>
    /// <remarks>
    /// <para>The outbox's unique index on this key is written at every command. Keys that began with the
    /// command's name sorted by the CALL_ID's md5, so each command landed on a random page of an index
    /// spanning the whole outbox (30 days of commands, <c>Switchboard:Outbox:KeepDone</c>):
    /// <c>switchboard-bench fold</c> measured 6.0 KB written per folded event with them and 4.1 KB with
    /// the time first (2.4 KB less than that only if every key were larger than the last, which no
    /// function of the key can promise), and about a fifth less CPU.</para>
    /// <para>The prefix is a function of the command's key (it is read from the CALL_ID in it), so two
    /// outbox keys are equal exactly when the commands and portals are: the index still refuses a
    /// command enqueued twice. Keys written before this form are never enqueued again: the ledger
    /// emits each command once per call (<see cref="CallRecord.Emitted"/>, which keeps the command's
    /// own key, unchanged).</para>
    /// </remarks>
    public static string OutboxKey(OutboxCommand command, string memberId)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(memberId);

        // Keys are per portal: the same CALL_ID at another portal is another call with its own commands.
        var callId = command.CallId;
        return Stamp(callId, out var dot) ? $"{callId.AsSpan(dot + 1)}/{command.Key}@{memberId}" : command.Key + "@" + memberId;
    }

    /// <summary>Whether the CALL_ID ends with a dot and 1 to <see cref="StampWidth"/> ASCII digits (the registration second), and where that dot is.</summary>
    private static bool Stamp(string callId, out int dot)
    {
        dot = callId.LastIndexOf('.');
        var tail = dot < 0 ? ReadOnlySpan<char>.Empty : callId.AsSpan(dot + 1);
        return tail.Length is > 0 and <= StampWidth && tail.IndexOfAnyExceptInRange('0', '9') < 0;
    }

    /// <summary>The CALL_ID a key was made from.</summary>
    public static string CallIdOf(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key.Length < StampWidth ? throw new ArgumentException("Not a call key.", nameof(key)) : key[StampWidth..];
    }
}
