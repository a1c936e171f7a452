using Switchboard.Bitrix24.Events;

namespace Switchboard.Journal;

/// <summary>A journal row as its typed event, for the ledger.</summary>
/// <param name="Id">The journal id.</param>
/// <param name="ReceivedAt">When it was received, to the millisecond (as the journal keeps it).</param>
/// <param name="MemberId">The verified portal.</param>
/// <param name="Event">The event; its auth block without tokens, as it reads back from the journal (from the feed, a typed event without its raw data tree: see <see cref="JournalFeed.AsStored"/>).</param>
public sealed record JournalEvent(long Id, DateTimeOffset ReceivedAt, string MemberId, Bitrix24Event Event);

/// <summary>
/// The events this process has just committed to the journal, already parsed, handed to the ledger so
/// that it need not read them back from the store and parse them again (under load that was a third
/// of the ledger's work). Only a hint: the ledger uses it when it holds exactly the rows after its
/// cursor, with no id missing, and otherwise reads the journal as before. So rows written by another
/// instance, ids the database skipped, and anything dropped here when the ledger fell behind are all
/// read from the store, and what the ledger folds is the same either way.
/// </summary>
public sealed class JournalFeed
{
    /// <summary>
    /// Rows kept for the ledger at most. Past that the ledger has fallen behind (a pass folds at most
    /// 1,000 rows every 50 ms by default): the feed lets go of everything it holds and keeps nothing more
    /// until the ledger, reading the journal, has caught up with the last row it let go of. Dropping only
    /// the oldest instead kept 8,192 rows the ledger would never take while it read the journal far
    /// behind them, and the collector copied them at every collection: with the ledger stalled, 1.3 s of
    /// pauses in a 14 s benchmark run and a p99 of 42 ms on acknowledgements (BENCHMARKS.md).
    /// </summary>
    public const int Capacity = 8192;

    /// <summary>
    /// Body bytes (UTF-8, as stored) kept at most, over all rows: a stalled ledger (a full disk under
    /// ledger.db, a lock wait) must not hold 8,192 large events (untyped ones with their parse trees).
    /// Typical telephony events are ~1,200.
    /// </summary>
    public const long MaxBodyBytes = 4 * 1024 * 1024;

    private readonly Lock _lock = new();
    private readonly Queue<(JournalEvent Row, int Weight)> _queue = new();
    private long _weight;

    // Set on overflow to the last row published then: nothing is kept until a take's cursor reaches it.
    private long? _suspendedThrough;

    /// <summary>Whether the feed has let go of its rows because the ledger fell behind, and keeps none until it catches up (for metrics and tests).</summary>
    public bool Suspended
    {
        get
        {
            lock (_lock)
            {
                return _suspendedThrough is not null;
            }
        }
    }

    /// <summary>Rows waiting (for metrics and tests).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>
    /// The event as the journal keeps it: tokens removed, received time cut to milliseconds. A typed
    /// event leaves its raw <c>data</c> tree behind (<see cref="Bitrix24Event.Data"/> is empty here):
    /// the ledger folds the typed fields only, and the trees of the events waiting for the next pass
    /// (up to 50 ms of them) were much of what the collector had to copy at each collection: average
    /// pauses of 8.1–9.6 ms with them and 6.7–7.5 ms without, two pairs of benchmark runs. An untyped
    /// event keeps its tree: its CALL_ID is read from it.
    /// </summary>
    public static JournalEvent AsStored(long id, DateTimeOffset receivedAt, string memberId, Bitrix24Event ev)
    {
        ArgumentNullException.ThrowIfNull(ev);
        var auth = ev.Auth;
        var stored = auth.AccessToken is null && auth.RefreshToken is null && auth.ApplicationToken is null
            ? ev
            : ev with { Auth = auth with { AccessToken = null, RefreshToken = null, ApplicationToken = null } };
        if (stored is not UntypedEvent && stored.Data.Children.Count > 0)
        {
            stored = stored with { Data = Bitrix24.Wire.FormNode.EmptyMap };
        }

        return new JournalEvent(id, DateTimeOffset.FromUnixTimeMilliseconds(receivedAt.ToUnixTimeMilliseconds()), memberId, stored);
    }

    /// <summary>Adds a row just committed (in id order), with the length of its stored body in bytes.</summary>
    public void Publish(JournalEvent row, int bodyLength = 0)
    {
        ArgumentNullException.ThrowIfNull(row);
        lock (_lock)
        {
            if (_suspendedThrough is not null)
            {
                _suspendedThrough = row.Id;
                return;
            }

            _queue.Enqueue((row, bodyLength));
            _weight += bodyLength;
            if (_queue.Count > Capacity || _weight > MaxBodyBytes)
            {
                _queue.Clear();
                _weight = 0;
                _suspendedThrough = row.Id;
            }
        }
    }

    private void Drop() => _weight -= _queue.Dequeue().Weight;

    /// <summary>
    /// Takes up to <paramref name="max"/> rows that follow <paramref name="cursor"/> without a gap
    /// (ids cursor+1, cursor+2, …) into <paramref name="into"/>; rows at or before the cursor are
    /// discarded. False when the next row is not here: read the store instead.
    /// </summary>
    public bool TryTake(long cursor, int max, List<JournalEvent> into)
    {
        ArgumentNullException.ThrowIfNull(into);
        lock (_lock)
        {
            // Caught up with what was let go: keep rows again from the next one published.
            if (_suspendedThrough is { } through && cursor >= through)
            {
                _suspendedThrough = null;
            }

            while (_queue.TryPeek(out var head) && head.Row.Id <= cursor)
            {
                Drop();
            }

            var next = cursor + 1;
            while (into.Count < max && _queue.TryPeek(out var head) && head.Row.Id == next)
            {
                into.Add(head.Row);
                Drop();
                next++;
            }

            return into.Count > 0;
        }
    }
}
