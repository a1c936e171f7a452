using System.Globalization;
using Switchboard.Asterisk.Events;
using Switchboard.Bitrix24.Events;
using Switchboard.Calls;

namespace Switchboard.Pbx;

/// <summary>A ledger input learnt from the PBX, with the portal of its call.</summary>
public readonly record struct PbxFact(string MemberId, LedgerInput Input);

/// <summary>
/// Follows the calls Switchboard placed on one Asterisk, from AMI events to ledger facts: answered (the
/// customer leg's DialEnd ANSWER), ended (the call's last channel hung up, or the Originate failed) with
/// the status and talk time, recording started. Pure state, no I/O; thread-safe. What it knows is only
/// a cache of the ledger: after a restart <see cref="Reconcile"/> rebuilds it from the live channels
/// (CoreShowChannels) and the ledger's open calls, since AMI never replays an event.
/// </summary>
/// <remarks>
/// A call is found by its legs, not by caller ids (which show the DID or the customer's number, never
/// reliably the extension): the Originate's ChannelId becomes the Uniqueid of its first channel
/// (<c>id</c>, <c>id;2</c> for a Local channel's other half) and the Linkedid of every leg; a channel
/// created later joins the call of its Linkedid; a channel whose Linkedid changes on entering a bridge
/// (all channels in a bridge adopt the oldest Linkedid, main/bridge_channel.c) stays with its call, and
/// its new Linkedid is remembered too. The connector's CALL_ID variable (VarSet) claims a channel as well.
/// </remarks>
public sealed class CallTracker(string pbxName, AsteriskPbxOptions pbx)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Tracked> _byChannel = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Tracked> _byLinkedid = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Tracked> _byPbxCallId = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Tracked> _byCallId = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Tracked> _byActionId = new(StringComparer.Ordinal);

    /// <summary>The PBX's name.</summary>
    public string PbxName => pbxName;

    /// <summary>Calls followed now, not ended.</summary>
    public int LiveCalls
    {
        get
        {
            lock (_lock)
            {
                return _byCallId.Values.Count(c => !c.Ended);
            }
        }
    }

    /// <summary>The ChannelId (and so the Linkedid of every leg) a call gets: readable, and the CALL_ID can be read back from it.</summary>
    public static string PbxCallIdFor(string callId)
    {
        ArgumentException.ThrowIfNullOrEmpty(callId);
        // Asterisk keeps a Uniqueid of up to 149 characters and puts it in file names (MixMonitor's
        // out-${UNIQUEID}.wav): a CALL_ID of plain characters is used as it is, any other is hashed.
        if (callId.Length <= 120 && callId.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '.' or '-' or '_'))
        {
            return "sb-" + callId;
        }

        return "sb-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(callId)))[..40];
    }

    /// <summary>
    /// The connector is about to originate this call: its events are followed from the first one on.
    /// <paramref name="actionId"/> correlates the OriginateResponse.
    /// </summary>
    public void Expect(string memberId, string callId, string pbxCallId, string actionId, string extension, long? userId)
    {
        lock (_lock)
        {
            var c = Track(memberId, callId, pbxCallId, extension, userId);
            c.AwaitingOriginate = true;
            _byActionId[actionId] = c;
        }
    }

    /// <summary>The Originate was answered (queued or refused): a reconciliation may judge the call by its channels again.</summary>
    public void OriginateAnswered(string callId)
    {
        lock (_lock)
        {
            if (_byCallId.TryGetValue(callId, out var c))
            {
                c.AwaitingOriginate = false;
            }
        }
    }

    /// <summary>The Originate was refused or never placed: the call is not followed any more (nothing of it is live).</summary>
    public void Abandon(string callId)
    {
        lock (_lock)
        {
            if (_byCallId.TryGetValue(callId, out var c))
            {
                Forget(c);
            }
        }
    }

    /// <summary>True when the call is followed and not over.</summary>
    public bool IsFollowing(string callId)
    {
        lock (_lock)
        {
            return _byCallId.TryGetValue(callId, out var c) && !c.Ended && c.Live.Count > 0;
        }
    }

    /// <summary>The facts one AMI event adds; empty for most.</summary>
    /// <param name="e">The event.</param>
    /// <param name="receivedAt">When it arrived, for events without Asterisk's <c>Timestamp</c> header.</param>
    public IReadOnlyList<PbxFact> Handle(AmiEvent e, DateTimeOffset receivedAt)
    {
        ArgumentNullException.ThrowIfNull(e);
        var at = e.Timestamp ?? receivedAt;
        var facts = new List<PbxFact>();
        lock (_lock)
        {
            switch (e)
            {
                case VarSetEvent v:
                    OnVarSet(v, facts);
                    break;
                case HangupEvent h:
                    OnHangup(h, at, facts);
                    break;
                case ChannelEvent ce:
                    Resolve(ce.Snapshot);
                    break;
                case DialBeginEvent d:
                    OnDialBegin(d);
                    break;
                case DialEndEvent d:
                    OnDialEnd(d, at, facts);
                    break;
                case OriginateResponseEvent o:
                    OnOriginateResponse(o, at, facts);
                    break;
            }
        }

        return facts;
    }

    /// <summary>
    /// After a (re)connect: matches the live channels to the ledger's open calls of this PBX. A call
    /// with live channels is followed on (an answer that happened while nobody watched is inferred from
    /// a bridged leg); a call whose channels are all gone is ended with the best status known and
    /// marked reconstructed, its talk time counted up to <paramref name="watchedUntil"/>, the last moment
    /// the PBX was watched. Calls whose Originate is still being sent by this process are left alone.
    /// </summary>
    public IReadOnlyList<PbxFact> Reconcile(string memberId, IReadOnlyList<CoreShowChannelEvent> live, IReadOnlyList<CallRecord> open, DateTimeOffset now, DateTimeOffset watchedUntil)
    {
        ArgumentNullException.ThrowIfNull(live);
        ArgumentNullException.ThrowIfNull(open);
        var facts = new List<PbxFact>();
        lock (_lock)
        {
            foreach (var record in open)
            {
                // A click whose Originate certainly never left is placed by its retry, not ended here.
                if (!string.Equals(record.Pbx, pbxName, StringComparison.OrdinalIgnoreCase) || record.PbxCallId is not { } pbxCallId || record.EndKnown || !record.OriginateMayHaveRung)
                {
                    continue;
                }

                if (_byCallId.TryGetValue(record.CallId, out var known) && known.Ended)
                {
                    continue; // ended by an event whose fact is being committed: one end, not two
                }

                var c = Track(memberId, record.CallId, pbxCallId, record.Extension, record.UserId);
                if (record.AnsweredAt is { } answeredAt && !c.Answered)
                {
                    c.Answered = true;
                    c.AnsweredAt = answeredAt;
                }

                var channels = live.Where(ch => BelongsTo(c, ch.Snapshot)).ToList();
                if (channels.Count > 0)
                {
                    c.Live.Clear();
                    foreach (var ch in channels)
                    {
                        Attach(c, ch.Snapshot);
                        if (string.Equals(ch.Application, "Dial", StringComparison.OrdinalIgnoreCase))
                        {
                            c.CustomerDialer ??= ch.Snapshot.Uniqueid;
                        }
                    }

                    // The customer's leg, when the Dial to it began while nobody watched: the channel in the
                    // Originate's own channel's bridge (the ;2 half of a Local channel is bridged with the
                    // user's phone, not with the customer). Bridged there: the customer answered.
                    var first = channels.FirstOrDefault(ch => IsOriginateChannel(c, ch.Snapshot));
                    var customer = first is { BridgeId: { Length: > 0 } bridge }
                        ? channels.FirstOrDefault(ch => ch != first && string.Equals(ch.BridgeId, bridge, StringComparison.Ordinal))
                        : null;
                    if (customer is not null)
                    {
                        c.CustomerLeg ??= customer.Snapshot.Uniqueid;
                        c.CustomerDialer ??= first!.Snapshot.Uniqueid;
                        if (!c.Answered)
                        {
                            var talk = customer.Duration ?? TimeSpan.Zero;
                            c.Answered = true;
                            c.AnsweredAt = now - talk;
                            facts.Add(new(memberId, new PbxAnswered(c.CallId, c.Extension, c.UserId, c.AnsweredAt.Value)));
                        }
                    }

                    continue;
                }

                if (c.AwaitingOriginate)
                {
                    continue;
                }

                c.Live.Clear();
                End(c, watchedUntil < now ? watchedUntil : now, facts, reconstructed: true);
            }
        }

        return facts;
    }

    /// <summary>Forgets ended calls (their late events change nothing), keeping the live ones.</summary>
    public void ForgetEnded()
    {
        lock (_lock)
        {
            foreach (var c in _byCallId.Values.Where(c => c.Ended).ToList())
            {
                Forget(c);
            }
        }
    }

    private void OnVarSet(VarSetEvent v, List<PbxFact> facts)
    {
        var c = Resolve(v.Snapshot);
        if (c is null && string.Equals(v.Variable, pbx.CallIdVariable, StringComparison.OrdinalIgnoreCase)
            && v.Value is { Length: > 0 } callId && _byCallId.TryGetValue(callId, out var claimed))
        {
            c = claimed;
            Attach(c, v.Snapshot);
        }

        if (c is null || c.Ended)
        {
            return;
        }

        if (string.Equals(v.Variable, "MIXMONITOR_FILENAME", StringComparison.OrdinalIgnoreCase) && v.Value is { Length: > 0 } path)
        {
            // Set by app_mixmonitor with the full path right after MixMonitor starts (as Asterisk
            // 22.10.1 sends it: MixMonitorStart itself names no file).
            facts.Add(new(c.MemberId, new RecordingStarted(c.CallId, pbx.MapRecordingPath(path))));
        }
        else if (string.Equals(v.Variable, "ANSWEREDTIME_MS", StringComparison.OrdinalIgnoreCase)
            && string.Equals(v.Snapshot.Uniqueid, c.CustomerDialer, StringComparison.Ordinal)
            && long.TryParse(v.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var ms))
        {
            // app_dial's own measure of the talk, set on the dialling channel when the Dial ends.
            c.TalkTime = TimeSpan.FromMilliseconds(ms);
        }
    }

    private void OnHangup(HangupEvent h, DateTimeOffset at, List<PbxFact> facts)
    {
        var c = Resolve(h.Snapshot);
        if (c is null)
        {
            return;
        }

        var uid = h.Snapshot.Uniqueid;
        c.Live.Remove(uid);
        c.Gone.Add(uid);
        if (string.Equals(uid, c.CustomerLeg, StringComparison.Ordinal))
        {
            c.CustomerCause = h.Cause;
        }

        c.LastCause = h.Cause;
        if (c.Live.Count == 0 && !c.Ended)
        {
            End(c, at, facts, reconstructed: false);
        }
    }

    private void OnDialBegin(DialBeginEvent d)
    {
        var c = (d.Caller is { } caller ? Resolve(caller) : null) ?? Resolve(d.Destination);
        if (c is null)
        {
            return;
        }

        Attach(c, d.Destination);
        if (d.Caller is null)
        {
            // An Originate's first leg: only Dest* fields, no calling channel (as Asterisk 22.10.1 sends it).
            c.UserLeg ??= d.Destination.Uniqueid;
        }
        else if (c.CustomerLeg is null && IsOriginateChannel(c, d.Caller))
        {
            // Only the Originate's own channel dials the customer: with Local/<ext>@from-internal, the
            // ;2 half dials the user's phone (PJSIP/101) first, and that leg is not the customer's.
            c.CustomerLeg = d.Destination.Uniqueid;
            c.CustomerDialer = d.Caller.Uniqueid;
        }
    }

    private void OnDialEnd(DialEndEvent d, DateTimeOffset at, List<PbxFact> facts)
    {
        var c = (d.Caller is { } caller ? Resolve(caller) : null) ?? Resolve(d.Destination);
        if (c is null || c.Ended)
        {
            return;
        }

        var dest = d.Destination.Uniqueid;
        if (string.Equals(dest, c.CustomerLeg, StringComparison.Ordinal))
        {
            if (string.Equals(d.DialStatus, "ANSWER", StringComparison.OrdinalIgnoreCase))
            {
                if (!c.Answered)
                {
                    c.Answered = true;
                    c.AnsweredAt = at;
                    facts.Add(new(c.MemberId, new PbxAnswered(c.CallId, c.Extension, c.UserId, at)));
                }
            }
            else if (CallStatusMap.FromCustomerDialStatus(d.DialStatus) is { } failure)
            {
                c.Failure ??= failure;
            }
        }
        else if (string.Equals(dest, c.UserLeg, StringComparison.Ordinal) && !string.Equals(d.DialStatus, "ANSWER", StringComparison.OrdinalIgnoreCase))
        {
            var ext = c.Extension ?? "?";
            c.Failure ??= d.DialStatus?.ToUpperInvariant() switch
            {
                "BUSY" => CallStatusMap.FromOriginateReason(5, ext),
                "CONGESTION" => CallStatusMap.FromOriginateReason(8, ext),
                "NOANSWER" or "CANCEL" => CallStatusMap.FromOriginateReason(3, ext),
                _ => null,
            };
        }
    }

    private void OnOriginateResponse(OriginateResponseEvent o, DateTimeOffset at, List<PbxFact> facts)
    {
        Tracked? c = null;
        if (o.Message.ActionId is { } actionId)
        {
            _byActionId.TryGetValue(actionId, out c);
        }

        if (c is null && o.Uniqueid is { } uid)
        {
            _byPbxCallId.TryGetValue(BaseId(uid), out c);
        }

        if (c is null)
        {
            return;
        }

        c.AwaitingOriginate = false;
        if (o.Success || c.Ended)
        {
            return;
        }

        // The user's phone was not answered: the dialplan never runs, and nothing more will come.
        c.Failure = CallStatusMap.FromOriginateReason(o.Reason ?? 0, c.Extension ?? "?") ?? c.Failure;
        c.Live.Clear();
        End(c, at, facts, reconstructed: false);
    }

    private static void End(Tracked c, DateTimeOffset at, List<PbxFact> facts, bool reconstructed)
    {
        c.Ended = true;
        if (c.Answered)
        {
            var talk = c.TalkTime ?? (c.AnsweredAt is { } answered && at > answered ? at - answered : TimeSpan.Zero);
            facts.Add(new(c.MemberId, new PbxHungUp(c.CallId, CallStatusCode.Success, talk, at, null, reconstructed)));
            return;
        }

        var outcome = c.Failure
            ?? (reconstructed
                ? new StatusWithReason(CallStatusCode.Cancelled, "The call ended while Switchboard was not connected to the PBX; its outcome is not known.")
                : CallStatusMap.FromHangupCause(c.CustomerCause ?? c.LastCause));
        facts.Add(new(c.MemberId, new PbxHungUp(c.CallId, outcome.Status, TimeSpan.Zero, at, outcome.Reason, reconstructed)));
    }

    private Tracked Track(string memberId, string callId, string pbxCallId, string? extension, long? userId)
    {
        if (!_byCallId.TryGetValue(callId, out var c))
        {
            c = new Tracked(memberId, callId, pbxCallId);
            _byCallId[callId] = c;
            _byPbxCallId[pbxCallId] = c;
            _byLinkedid[pbxCallId] = c;
        }

        c.Extension ??= extension;
        c.UserId ??= userId;
        return c;
    }

    private void Forget(Tracked c)
    {
        _byCallId.Remove(c.CallId);
        _byPbxCallId.Remove(c.PbxCallId);
        foreach (var key in _byChannel.Where(kv => kv.Value == c).Select(kv => kv.Key).ToList())
        {
            _byChannel.Remove(key);
        }

        foreach (var key in _byLinkedid.Where(kv => kv.Value == c).Select(kv => kv.Key).ToList())
        {
            _byLinkedid.Remove(key);
        }

        foreach (var key in _byActionId.Where(kv => kv.Value == c).Select(kv => kv.Key).ToList())
        {
            _byActionId.Remove(key);
        }
    }

    // The channel the Originate created (ChannelId, or the one its first Dial rang): the one that runs
    // the dialplan and dials the customer.
    private static bool IsOriginateChannel(Tracked c, ChannelSnapshot s) =>
        string.Equals(s.Uniqueid, c.PbxCallId, StringComparison.Ordinal) || string.Equals(s.Uniqueid, c.UserLeg, StringComparison.Ordinal);

    private bool BelongsTo(Tracked c, ChannelSnapshot s) =>
        string.Equals(BaseId(s.Uniqueid), c.PbxCallId, StringComparison.Ordinal)
        || string.Equals(s.Linkedid, c.PbxCallId, StringComparison.Ordinal)
        || (_byChannel.TryGetValue(s.Uniqueid, out var byChannel) && byChannel == c)
        || (_byLinkedid.TryGetValue(s.Linkedid, out var byLinked) && byLinked == c);

    private Tracked? Resolve(ChannelSnapshot s)
    {
        if (_byChannel.TryGetValue(s.Uniqueid, out var c))
        {
            // A channel keeps its call when its Linkedid changes in a bridge; the new Linkedid joins too.
            _byLinkedid.TryAdd(s.Linkedid, c);
            return c;
        }

        if (_byPbxCallId.TryGetValue(BaseId(s.Uniqueid), out c) || _byLinkedid.TryGetValue(s.Linkedid, out c))
        {
            Attach(c, s);
            return c;
        }

        return null;
    }

    private void Attach(Tracked c, ChannelSnapshot s)
    {
        _byChannel[s.Uniqueid] = c;
        _byLinkedid.TryAdd(s.Linkedid, c);
        if (!c.Ended && !c.Gone.Contains(s.Uniqueid))
        {
            c.Live.Add(s.Uniqueid);
        }
    }

    // A Local channel's halves are <id> and <id>;2 when the Originate set ChannelId (core_unreal.c).
    private static string BaseId(string uniqueid)
    {
        var semicolon = uniqueid.IndexOf(';', StringComparison.Ordinal);
        return semicolon < 0 ? uniqueid : uniqueid[..semicolon];
    }

    private sealed class Tracked(string memberId, string callId, string pbxCallId)
    {
        public string MemberId { get; } = memberId;

        public string CallId { get; } = callId;

        public string PbxCallId { get; } = pbxCallId;

        public string? Extension { get; set; }

        public long? UserId { get; set; }

        public HashSet<string> Live { get; } = new(StringComparer.Ordinal);

        public HashSet<string> Gone { get; } = new(StringComparer.Ordinal);

        public string? UserLeg { get; set; }

        public string? CustomerLeg { get; set; }

        public string? CustomerDialer { get; set; }

        public bool AwaitingOriginate { get; set; }

        public bool Answered { get; set; }

        public DateTimeOffset? AnsweredAt { get; set; }

        public TimeSpan? TalkTime { get; set; }

        public StatusWithReason? Failure { get; set; }

        public int? CustomerCause { get; set; }

        public int? LastCause { get; set; }

        public bool Ended { get; set; }
    }
}
