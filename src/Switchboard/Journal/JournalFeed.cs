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
    /// <summary>Rows kept for the ledger at most; past that the oldest are dropped (and read back from the store).</summary>
    public const int Capacity = 8192;

    /// <summary>
    /// Body characters kept at most, over all rows: a stalled ledger (a full disk under ledger.db, a lock
    /// wait) must not hold 8,192 large events (untyped ones with their parse trees). Typical telephony
    /// events are ~1,200.
    /// </summary>
    public const long MaxBodyChars = 4 * 1024 * 1024;

    private readonly Lock _lock = new();
    private readonly Queue<(JournalEvent Row, int Weight)> _queue = new();
    private long _weight;

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

    /// <summary>Adds a row just committed (in id order), with the length of its body.</summary>
    public void Publish(JournalEvent row, int bodyLength = 0)
    {
        ArgumentNullException.ThrowIfNull(row);
        lock (_lock)
        {
            _queue.Enqueue((row, bodyLength));
            _weight += bodyLength;
            while (_queue.Count > Capacity || (_weight > MaxBodyChars && _queue.Count > 0))
            {
                Drop();
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
