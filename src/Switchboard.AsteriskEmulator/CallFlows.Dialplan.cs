using System.Globalization;

namespace Switchboard.AsteriskEmulator;

internal sealed partial class CallFlows
{
    /// <summary>How a bridged call ended.</summary>
    private abstract record TalkEnd;

    private sealed record Finished : TalkEnd;

    /// <summary>A blind transfer moved <see cref="Transferee"/> to <see cref="Target"/> in the internal context.</summary>
    private sealed record Moved(Leg Transferee, string Target) : TalkEnd;

    /// <summary>The queue a call is in, for the Agent* events of app_queue.c.</summary>
    private sealed record QueueContext(string Queue, DateTimeOffset JoinedAt);

    private string PhoneTarget(string ext) => _o.PhoneTechnology == PhoneTechnology.Pjsip ? $"PJSIP/{ext}" : $"Local/{ext}@phones";

    /// <summary>Runs the dialplan from <paramref name="context"/>/<paramref name="exten"/> priority 1 on the first leg's channel.</summary>
    private async Task RunDialplanAsync(Call call, Leg a, string context, string exten)
    {
        while (true)
        {
            TalkEnd? end;
            using (pbx.Enter(call))
            {
                if (a.Outer.Gone)
                {
                    return;
                }

                a.Outer.Context = context;
                a.Outer.Exten = exten;
            }

            switch (context)
            {
                case "from-internal":
                    // extensions.conf [from-internal] _+X.: NoOp, Set(CDR(userfield)=${SB_CALL_ID}), MixMonitor, Dial.
                    using (pbx.Enter(call))
                    {
                        pbx.Newexten(a.Outer, "NoOp", $"outbound call to {exten}", 1);
                        var userField = a.Outer.Variables.GetValueOrDefault("SB_CALL_ID", "");
                        a.Outer.Variables["CDR(userfield)"] = userField;
                        pbx.Newexten(a.Outer, "Set", $"CDR(userfield)={userField}", 2);
                        StartMixMonitor(a.Outer, "out", 3);
                    }

                    end = await DialAndTalkAsync(call, a, [$"Local/{exten}@pstn"], _o.OutboundDialTimeout, transfer: false, priority: 4);
                    break;
                case "from-trunk":
                    end = await InboundAsync(call, a, exten);
                    break;
                case "internal":
                    // extensions.conf [internal] _1XX: NoOp, Dial(Local/${EXTEN}@phones,20): a transfer's target.
                    using (pbx.Enter(call))
                    {
                        pbx.Newexten(a.Outer, "NoOp", $"internal call to {exten}", 1);
                    }

                    end = await DialAndTalkAsync(call, a, [PhoneTarget(exten)], 20, transfer: true, priority: 2);
                    break;
                default:
                    using (pbx.Enter(call))
                    {
                        EndAfterDialplan(a, [], 16);
                    }

                    return;
            }

            if (end is Moved moved)
            {
                a = moved.Transferee;
                context = "internal";
                exten = moved.Target;
                continue;
            }

            return;
        }
    }

    private async Task<TalkEnd?> InboundAsync(Call call, Leg a, string did)
    {
        var route = _o.Dids[did];
        var priority = 1;
        using (pbx.Enter(call))
        {
            pbx.Newexten(a.Outer, "NoOp", $"inbound to {did} from {a.Outer.CallerIdNum}", priority++);
            if (route.Queue is not null)
            {
                pbx.Newexten(a.Outer, "Answer", "", priority++);
                if (a.Outer.State != 6)
                {
                    pbx.Newstate(a.Outer, 6);
                }
            }

            if (route.Record)
            {
                StartMixMonitor(a.Outer, route.Queue is null ? "in" : "q", priority++);
            }
        }

        if (route.Queue is { } queue)
        {
            return await QueueAsync(call, a, queue, priority);
        }

        return await DialAndTalkAsync(call, a, [.. route.Extensions.Select(PhoneTarget)], route.Timeout, route.AllowTransfer, priority);
    }

    private void StartMixMonitor(Channel ch, string prefix, int priority)
    {
        // app_mixmonitor.c: MIXMONITOR_FILENAME is set (a VarSet), then MixMonitorStart with no file name.
        var dir = _o.RecordingDirectory ?? Path.Combine(Path.GetTempPath(), "switchboard-asterisk-rec");
        var path = Path.Combine(dir, $"{prefix}-{ch.Uniqueid}.wav");
        pbx.Newexten(ch, "MixMonitor", path, priority);
        ch.Recorder = new WavRecorder(path, pbx.Now, () => pbx.RealNow, pbx.Time, TimeSpan.FromMilliseconds(100));
        pbx.VarSet(ch, "MIXMONITOR_FILENAME", path);
        pbx.Emit("MixMonitorStart", "call,all", ch.Snapshot());
    }

    private async Task<TalkEnd?> DialAndTalkAsync(Call call, Leg a, List<string> targets, int timeout, bool transfer, int priority)
    {
        List<Leg> legs;
        DateTimeOffset dialStart;
        using (pbx.Enter(call))
        {
            var data = string.Join('&', targets) + "," + timeout.ToString(CultureInfo.InvariantCulture) + (transfer ? ",tT" : "");
            pbx.Newexten(a.Outer, "Dial", data, priority);
            foreach (var v in DialVariables)
            {
                pbx.VarSet(a.Outer, v, "");
            }

            dialStart = pbx.Now;
            legs = CreateDialLegs(call, a.Outer, targets, setDialedPeer: true);
            StartRinging(a.Outer, legs);
        }

        var outcome = await RingAsync(call, a, legs, timeout, dialplanDial: true);
        if (outcome.CallerGone)
        {
            return null;
        }

        if (outcome.Answered is not { } b)
        {
            using (pbx.Enter(call))
            {
                pbx.VarSet(a.Outer, "DIALEDTIME", Pbx.Seconds(pbx.Now - dialStart));
                pbx.VarSet(a.Outer, "DIALEDTIME_MS", Pbx.Millis(pbx.Now - dialStart));
                pbx.Newexten(a.Outer, "Hangup", "", priority + 1);
                EndAfterDialplan(a, legs, outcome.Status switch { "BUSY" => 17, "NOANSWER" => 19, "CONGESTION" => 34, _ => 16 });
            }

            return null;
        }

        return await TalkAsync(call, a, b, legs, dialStart, null);
    }

    /// <summary>
    /// The caller in a ringall queue (apps/app_queue.c): QueueCallerJoin, the members rung together per
    /// attempt (AgentCalled), AgentRingNoAnswer when an attempt times out, then the retry pause;
    /// AgentConnect and QueueCallerLeave when one answers, QueueCallerAbandon when the caller hangs up
    /// first, AgentComplete when the call ends.
    /// </summary>
    private async Task<TalkEnd?> QueueAsync(Call call, Leg a, string queueName, int priority)
    {
        var q = _o.Queues[queueName];
        DateTimeOffset joined;
        DateTimeOffset deadline;
        using (pbx.Enter(call))
        {
            pbx.Newexten(a.Outer, "Queue", $"{queueName},t,,,{q.MaxWait}", priority);
            pbx.Emit("QueueCallerJoin", "agent,all", [.. a.Outer.Snapshot(), new("Queue", queueName), new("Position", "1"), new("Count", "1")]);
            joined = pbx.Now;
            deadline = joined.AddSeconds(q.MaxWait);
        }

        var ctx = new QueueContext(queueName, joined);
        while (true)
        {
            List<Leg> legs;
            using (pbx.Enter(call))
            {
                legs = CreateDialLegs(call, a.Outer, q.Members.Select(PhoneTarget), setDialedPeer: false);
                foreach (var leg in legs)
                {
                    pbx.Emit("AgentCalled", "agent,all", [.. a.Outer.Snapshot(), .. leg.Outer.Snapshot("Dest"), new("Queue", queueName), new("Interface", leg.Interface), new("MemberName", leg.Interface)]);
                }

                StartRinging(a.Outer, legs, dialVariables: false);
            }

            var attempt = Math.Max(1, (int)Math.Min(q.MemberTimeout, (deadline - pbx.Now).TotalSeconds));
            var ringStart = pbx.Now;
            var outcome = await RingAsync(call, a, legs, attempt, dialplanDial: false, onAnswer: leg =>
            {
                pbx.Emit("QueueCallerLeave", "agent,all", [.. a.Outer.Snapshot(), new("Queue", queueName), new("Count", "0"), new("Position", "1")]);
                pbx.Emit("AgentConnect", "agent,all", [.. a.Outer.Snapshot(), .. leg.Outer.Snapshot("Dest"), new("Queue", queueName), new("Interface", leg.Interface), new("MemberName", leg.Interface), new("HoldTime", Pbx.Seconds(pbx.Now - joined)), new("RingTime", Pbx.Seconds(pbx.Now - ringStart))]);
            }, beforeCallerLeaves: () =>
            {
                pbx.Emit("QueueCallerAbandon", "agent,all", [.. a.Outer.Snapshot(), new("Queue", queueName), new("Position", "1"), new("OriginalPosition", "1"), new("HoldTime", Pbx.Seconds(pbx.Now - joined))]);
                pbx.Emit("QueueCallerLeave", "agent,all", [.. a.Outer.Snapshot(), new("Queue", queueName), new("Count", "0"), new("Position", "1")]);
            });
            if (outcome.CallerGone)
            {
                return null;
            }

            if (outcome.Answered is { } b)
            {
                return await TalkAsync(call, a, b, legs, ringStart, ctx);
            }

            using (pbx.Enter(call))
            {
                foreach (var leg in legs.Where(l => l.Status == "NOANSWER"))
                {
                    pbx.Emit("AgentRingNoAnswer", "agent,all", [.. a.Outer.Snapshot(), .. leg.Outer.Snapshot("Dest"), new("Queue", queueName), new("Interface", leg.Interface), new("MemberName", leg.Interface), new("RingTime", Pbx.Millis(pbx.Now - ringStart))]);
                }
            }

            // The retry pause; the caller may give up meanwhile.
            var pauseEnd = pbx.Now.AddSeconds(q.Retry);
            if (pauseEnd > deadline || pbx.Now >= deadline)
            {
                using (pbx.Enter(call))
                {
                    pbx.Emit("QueueCallerLeave", "agent,all", [.. a.Outer.Snapshot(), new("Queue", queueName), new("Count", "0"), new("Position", "1")]);
                    pbx.VarSet(a.Outer, "QUEUESTATUS", "TIMEOUT");
                    pbx.Newexten(a.Outer, "Hangup", "", priority + 1);
                    EndAfterDialplan(a, [], 16);
                }

                return null;
            }

            var waitUntil = a.EndsAt is { } ae && ae < pauseEnd ? ae : pauseEnd;
            var timedOut = await call.WaitUntilAsync(waitUntil, pbx);
            using (pbx.Enter(call))
            {
                var request = timedOut ? null : call.Take();
                var hungUp = request is HangupRequestItem h && a.All.Contains(h.Channel);
                if (hungUp || (a.EndsAt is { } e && e <= pbx.Now))
                {
                    if (request is HangupRequestItem hr)
                    {
                        pbx.HangupRequest(hr.Channel, hr.Cause, soft: true);
                    }

                    pbx.Emit("QueueCallerAbandon", "agent,all", [.. a.Outer.Snapshot(), new("Queue", queueName), new("Position", "1"), new("OriginalPosition", "1"), new("HoldTime", Pbx.Seconds(pbx.Now - joined))]);
                    pbx.Emit("QueueCallerLeave", "agent,all", [.. a.Outer.Snapshot(), new("Queue", queueName), new("Count", "0"), new("Position", "1")]);
                    CallerLeavesWhileRinging(a, [], dialplanDial: false, self: !hungUp);
                    return null;
                }
            }
        }
    }

    /// <summary>The bridge between <paramref name="a"/> and the answered <paramref name="b"/>, until one side goes or a transfer.</summary>
    private async Task<TalkEnd?> TalkAsync(Call call, Leg a, Leg b, List<Leg> legs, DateTimeOffset dialStart, QueueContext? queue)
    {
        Bridge bridge;
        using (pbx.Enter(call))
        {
            bridge = Bridge(a, b);
            FinishCancelled(legs);
            InnerAfterAnswer(b);
        }

        while (true)
        {
            DateTimeOffset next;
            using (pbx.Enter(call))
            {
                next = Min(a.EndsAt, b.EndsAt) ?? pbx.Now.AddHours(1);
            }

            var timedOut = await call.WaitUntilAsync(next, pbx);
            CallRequest? request = timedOut ? null : call.Take();
            switch (request)
            {
                case HangupRequestItem h:
                    using (pbx.Enter(call))
                    {
                        if (h.Channel.Gone)
                        {
                            continue;
                        }

                        pbx.HangupRequest(h.Channel, h.Cause, soft: true);
                        if (a.All.Contains(h.Channel))
                        {
                            EndCallerSide(a, b, bridge, legs, dialStart, queue, self: false);
                            return new Finished();
                        }

                        if (b.All.Contains(h.Channel))
                        {
                            EndCalleeSide(a, b, bridge, legs, dialStart, queue, self: false);
                            return new Finished();
                        }
                    }

                    continue;
                case BlindTransferItem t:
                    using (pbx.Enter(call))
                    {
                        var transferer = a.All.Contains(t.Transferer) ? a : b;
                        var transferee = transferer == a ? b : a;
                        BlindTransfer(transferer, transferee, bridge, t.Target, a, b, legs, dialStart);
                        return new Moved(transferee, t.Target);
                    }

                case AttendedTransferItem x:
                    var transfererLeg = a.All.Contains(x.Transferer) ? a : b;
                    var (target, newBridge) = await AttendedTransferAsync(call, transfererLeg, transfererLeg == a ? b : a, bridge, x.Target);
                    if (target is not null)
                    {
                        using (pbx.Enter(call))
                        {
                            if (transfererLeg == a)
                            {
                                a = target;
                            }
                            else
                            {
                                b = target;
                            }

                            bridge = newBridge!;
                            legs = [b];
                        }
                    }

                    continue;
                case null when timedOut:
                    using (pbx.Enter(call))
                    {
                        var now = pbx.Now;
                        if (a.EndsAt is { } ae && ae <= now && (b.EndsAt is not { } be || ae <= be))
                        {
                            EndCallerSide(a, b, bridge, legs, dialStart, queue, self: true);
                            return new Finished();
                        }

                        if (b.EndsAt is { } bEnd && bEnd <= now)
                        {
                            EndCalleeSide(a, b, bridge, legs, dialStart, queue, self: true);
                            return new Finished();
                        }
                    }

                    continue;
                default:
                    continue;
            }
        }
    }

    private static DateTimeOffset? Min(DateTimeOffset? x, DateTimeOffset? y) => x is null ? y : y is null ? x : x < y ? x : y;

    /// <summary>c2c-answered.ami: BridgeCreate, the callee's AppDial again, BridgeEnter callee then caller, BRIDGEPEER on both.</summary>
    private Bridge Bridge(Leg a, Leg b)
    {
        var bridge = pbx.BridgeCreate();
        if (b.Inner is not null)
        {
            pbx.Newexten(b.Outer, "AppDial", "(Outgoing Line)");
        }

        pbx.BridgeEnter(bridge, b.Outer);
        if (a.Outer.State != 6)
        {
            // A trunk channel is answered when the call is (chan_pjsip sends 200 OK on bridge).
            pbx.Newstate(a.Outer, 6);
        }

        pbx.BridgeEnter(bridge, a.Outer);
        pbx.VarSet(b.Outer, "BRIDGEPEER", a.Outer.Name);
        pbx.VarSet(a.Outer, "BRIDGEPEER", b.Outer.Name);
        return bridge;
    }

    private void DialVariablesAfterBridge(Leg a, Leg b, DateTimeOffset dialStart)
    {
        // app_dial.c sets these on the caller when Dial returns (c2c-answered.ami, after BridgeLeave).
        var answered = pbx.Now - (b.AnsweredAt ?? pbx.Now);
        var dialed = pbx.Now - dialStart;
        pbx.VarSet(a.Outer, "ANSWEREDTIME", Pbx.Seconds(answered));
        pbx.VarSet(a.Outer, "ANSWEREDTIME_MS", Pbx.Millis(answered));
        pbx.VarSet(a.Outer, "DIALEDTIME", Pbx.Seconds(dialed));
        pbx.VarSet(a.Outer, "DIALEDTIME_MS", Pbx.Millis(dialed));
        pbx.VarSet(a.Outer, "DIALSTATUS", "ANSWER");
    }

    private void AgentComplete(Leg a, Leg b, QueueContext? queue, string reason)
    {
        if (queue is null)
        {
            return;
        }

        pbx.Emit("AgentComplete", "agent,all",
        [
            .. a.Outer.Snapshot(), .. b.Outer.Snapshot("Dest"), new("Queue", queue.Queue), new("Interface", b.Interface), new("MemberName", b.Interface),
            new("HoldTime", Pbx.Seconds((b.AnsweredAt ?? pbx.Now) - queue.JoinedAt)), new("TalkTime", Pbx.Seconds(pbx.Now - (b.AnsweredAt ?? pbx.Now))), new("Reason", reason),
        ]);
    }

    /// <summary>The called side hangs up first: c2c-answered.ami and inbound-ringgroup-answered.ami, in their order.</summary>
    private void EndCalleeSide(Leg a, Leg b, Bridge bridge, List<Leg> legs, DateTimeOffset dialStart, QueueContext? queue, bool self)
    {
        if (self)
        {
            InnerApp(b, "Hangup", "16");
        }

        if (b.Inner is { } b2)
        {
            if (self)
            {
                pbx.HangupRequest(b2, 16, soft: true);
            }

            pbx.HangupRequest(b.Outer, 16, soft: false);
            pbx.Hangup(b2, 16);
            CdrInner(b);
        }
        else if (self)
        {
            pbx.HangupRequest(b.Outer, 16, soft: false);
        }

        pbx.VarSet(b.Outer, "BRIDGEPEER", "");
        pbx.VarSet(a.Outer, "BRIDGEPEER", "");
        pbx.BridgeLeave(bridge, b.Outer);
        pbx.Hangup(b.Outer, 16);
        pbx.BridgeLeave(bridge, a.Outer);
        pbx.BridgeDestroy(bridge);
        DialVariablesAfterBridge(a, b, dialStart);
        AgentComplete(a, b, queue, "agent");
        EndAfterDialplan(a, legs, 16);
    }

    /// <summary>
    /// The calling side hangs up first. No transcript has it; main/bridge_basic.c dissolves a two-party
    /// basic bridge when one side hangs up, so the other is kicked out and, being an outgoing (AppDial)
    /// channel, hung up with the same cause.
    /// </summary>
    private void EndCallerSide(Leg a, Leg b, Bridge bridge, List<Leg> legs, DateTimeOffset dialStart, QueueContext? queue, bool self)
    {
        if (self)
        {
            InnerApp(a, "Hangup", "16");
        }

        if (a.Inner is { } a2)
        {
            if (self)
            {
                pbx.HangupRequest(a2, 16, soft: true);
            }

            pbx.HangupRequest(a.Outer, 16, soft: false);
            CdrInner(a);
            pbx.Hangup(a2, 16);
        }
        else if (self)
        {
            pbx.HangupRequest(a.Outer, 16, soft: false);
        }

        pbx.VarSet(a.Outer, "BRIDGEPEER", "");
        pbx.VarSet(b.Outer, "BRIDGEPEER", "");
        pbx.BridgeLeave(bridge, a.Outer);
        DialVariablesAfterBridge(a, b, dialStart);
        AgentComplete(a, b, queue, "caller");
        CdrOuter(a, legs);
        pbx.Hangup(a.Outer, 16);
        pbx.BridgeLeave(bridge, b.Outer);
        pbx.BridgeDestroy(bridge);
        pbx.Hangup(b.Outer, 16);
        if (b.Inner is { } b2)
        {
            pbx.HangupRequest(b2, 16, soft: false);
            pbx.HangupRequest(b2, 16, soft: true);
            CdrInner(b);
            pbx.Hangup(b2, 16);
        }
    }

    /// <summary>The dialplan has run out on the calling channel (c2c-answered.ami, after Dial returned): it and its ;2 go.</summary>
    private void EndAfterDialplan(Leg a, List<Leg> legs, int cause)
    {
        if (a.Outer.Gone)
        {
            return;
        }

        if (a.Inner is { Gone: false } a2)
        {
            pbx.HangupRequest(a.Outer, cause, soft: true);
            pbx.HangupRequest(a2, cause, soft: false);
            pbx.HangupRequest(a2, cause, soft: true);
            CdrInner(a);
            pbx.Hangup(a2, cause);
        }

        CdrOuter(a, legs);
        pbx.Hangup(a.Outer, cause);
    }

    /// <summary>
    /// A blind transfer (main/bridge.c ast_bridge_transfer_blind; BlindTransfer as stasis_bridges.c
    /// blind_transfer_to_ami writes it): the event, the transferer leaves and hangs up, the transferee
    /// leaves the bridge and runs the internal context at the target, where Dial rings it.
    /// </summary>
    private void BlindTransfer(Leg transferer, Leg transferee, Bridge bridge, string target, Leg a, Leg b, List<Leg> legs, DateTimeOffset dialStart)
    {
        pbx.Emit("BlindTransfer", "call,all",
        [
            new("Result", "Success"), .. transferer.Outer.Snapshot("Transferer"), .. bridge.Fields(), .. transferee.Outer.Snapshot("Transferee"),
            new("IsExternal", "No"), new("Context", "internal"), new("Extension", target),
        ]);
        pbx.VarSet(transferer.Outer, "BRIDGEPEER", "");
        pbx.VarSet(transferee.Outer, "BRIDGEPEER", "");
        pbx.BridgeLeave(bridge, transferer.Outer);
        pbx.BridgeLeave(bridge, transferee.Outer);
        pbx.BridgeDestroy(bridge);
        if (transferer == b)
        {
            DialVariablesAfterBridge(a, b, dialStart);
        }

        pbx.Hangup(transferer.Outer, 16);
        if (transferer.Inner is { } t2)
        {
            pbx.HangupRequest(t2, 16, soft: false);
            pbx.HangupRequest(t2, 16, soft: true);
            CdrInner(transferer);
            pbx.Hangup(t2, 16);
        }
    }

    /// <summary>
    /// An attended transfer: the transferer's phone places a consultation call to <paramref name="target"/>
    /// (as the lab places a desk-phone call: <c>Local/&lt;ext&gt;@deskphone</c> into the internal context);
    /// once the target answers, AttendedTransfer (stasis_bridges.c attended_transfer_to_ami, DestType
    /// Bridge), both transferer channels go, and the target joins the transferee's bridge, adopting its
    /// older Linkedid (main/bridge_channel.c).
    /// </summary>
    private async Task<(Leg? Target, Bridge? Bridge)> AttendedTransferAsync(Call call, Leg transferer, Leg transferee, Bridge bridge, string target)
    {
        var ext = ExtensionOf(transferer);
        Leg? c;
        List<Leg> legs;
        using (pbx.Enter(call))
        {
            var spec = new OriginateSpec
            {
                Channel = _o.PhoneTechnology == PhoneTechnology.Pjsip ? $"PJSIP/{ext}" : $"Local/{ext}@deskphone",
                Context = "internal",
                Exten = target,
                CallerIdNum = ext,
                PlanOverride = LegPlan.AtOnce(_o.DeskPhoneOffHook, null),
            };
            c = CreateOriginateLeg(call, spec);
            if (c is null)
            {
                return (null, null);
            }

            StartRinging(null, [c]);
        }

        var first = await RingAsync(call, null, [c], 30, dialplanDial: false);
        if (first.Answered is null)
        {
            return (null, null);
        }

        using (pbx.Enter(call))
        {
            InnerAfterAnswer(c);
            c.Outer.Context = "internal";
            c.Outer.Exten = target;
            pbx.Newexten(c.Outer, "NoOp", $"internal call to {target}", 1);
            pbx.Newexten(c.Outer, "Dial", $"{PhoneTarget(target)},20", 2);
            legs = CreateDialLegs(call, c.Outer, [PhoneTarget(target)], setDialedPeer: true);
            StartRinging(c.Outer, legs);
        }

        var outcome = await RingAsync(call, c, legs, 20, dialplanDial: true);
        using (pbx.Enter(call))
        {
            if (outcome.Answered is not { } d)
            {
                if (!outcome.CallerGone)
                {
                    EndAfterDialplan(c, legs, 16);
                }

                return (null, null);
            }

            var second = Bridge(c, d);
            InnerAfterAnswer(d);
            pbx.Emit("AttendedTransfer", "call,all",
            [
                new("Result", "Success"),
                .. transferer.Outer.Snapshot("OrigTransferer"), .. Prefixed(bridge.Fields(), "Orig"),
                .. c.Outer.Snapshot("SecondTransferer"), .. Prefixed(second.Fields(), "Second"),
                new("DestType", "Bridge"), new("DestBridgeUniqueid", bridge.Id),
                .. transferee.Outer.Snapshot("Transferee"), .. d.Outer.Snapshot("TransferTarget"),
                new("IsExternal", "No"),
            ]);

            // The transferer's two channels leave and hang up; the target moves into the first bridge.
            pbx.VarSet(transferer.Outer, "BRIDGEPEER", "");
            pbx.BridgeLeave(bridge, transferer.Outer);
            pbx.Hangup(transferer.Outer, 16);
            if (transferer.Inner is { } t2)
            {
                pbx.HangupRequest(t2, 16, soft: false);
                pbx.Hangup(t2, 16);
            }

            pbx.BridgeLeave(second, c.Outer);
            pbx.BridgeLeave(second, d.Outer);
            pbx.BridgeDestroy(second);
            pbx.Hangup(c.Outer, 16);
            if (c.Inner is { } c2)
            {
                pbx.HangupRequest(c2, 16, soft: false);
                pbx.Hangup(c2, 16);
            }

            pbx.BridgeEnter(bridge, d.Outer);
            if (d.Inner is { } d2)
            {
                d2.Linkedid = d.Outer.Linkedid;
            }

            pbx.VarSet(d.Outer, "BRIDGEPEER", transferee.Outer.Name);
            pbx.VarSet(transferee.Outer, "BRIDGEPEER", d.Outer.Name);
            return (d, bridge);
        }
    }

    private static IEnumerable<KeyValuePair<string, string>> Prefixed(IEnumerable<KeyValuePair<string, string>> fields, string prefix) =>
        fields.Select(f => new KeyValuePair<string, string>(prefix + f.Key, f.Value));

    /// <summary>The extension of a phone leg, from its channel name (<c>Local/101@phones-…</c>, <c>PJSIP/101-…</c>).</summary>
    private static string ExtensionOf(Leg leg)
    {
        var name = leg.Outer.Name;
        var start = name.IndexOf('/', StringComparison.Ordinal) + 1;
        var end = name.IndexOfAny(['@', '-'], start);
        return name[start..(end < 0 ? name.Length : end)];
    }
}
