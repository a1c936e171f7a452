using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Switchboard.AsteriskEmulator;

/// <summary>What an Originate asked for (main/manager.c action_originate).</summary>
internal sealed record OriginateSpec
{
    public required string Channel { get; init; }
    public required string Context { get; init; }
    public required string Exten { get; init; }
    public IReadOnlyList<KeyValuePair<string, string>> Variables { get; init; } = [];
    public int TimeoutSeconds { get; init; } = 30;
    public string? CallerIdNum { get; init; }
    public string? CallerIdName { get; init; }
    public string? ChannelId { get; init; }
    public string? ActionId { get; init; }
    public bool Async { get; init; } = true;

    /// <summary>Forces the first leg's plan (desk calls, consultation calls) instead of resolving it from the channel.</summary>
    internal LegPlan? PlanOverride { get; init; }
}

/// <summary>
/// The lab's dialplan (extensions.conf of the transcripts' lab) played in C#: each method emits the events
/// Asterisk 22.10.1 sent for that step, in the order the transcripts in tests/Fixtures/asterisk show
/// (c2c-answered.ami, c2c-user-busy.ami, desk-outbound.ami, inbound-ringgroup-answered.ami,
/// inbound-missed.ami). Steps no transcript covers follow the Asterisk source file named beside them.
/// </summary>
internal sealed partial class CallFlows(Pbx pbx, ILogger logger, CancellationToken stopped)
{
    private readonly AsteriskEmulatorOptions _o = pbx.Options;

    private static readonly string[] DialVariables =
        ["DIALSTATUS", "DIALEDPEERNUMBER", "DIALEDPEERNAME", "ANSWEREDTIME", "ANSWEREDTIME_MS", "DIALEDTIME", "DIALEDTIME_MS", "RINGTIME", "RINGTIME_MS", "PROGRESSTIME", "PROGRESSTIME_MS"];

    /// <summary>Whether <paramref name="exten"/> exists in <paramref name="context"/> of the lab's dialplan.</summary>
    public bool ExtensionExists(string context, string exten) => context switch
    {
        "phones" => _o.Phones.ContainsKey(exten),
        "pstn" or "callers" or "from-internal" => IsPlusNumber(exten),
        "deskphone" => exten.Length >= 2 && exten.All(char.IsAsciiDigit),
        "from-trunk" => _o.Dids.ContainsKey(exten),
        "internal" => exten.Length == 3 && exten[0] == '1' && exten.All(char.IsAsciiDigit),
        _ => false,
    };

    private static bool IsPlusNumber(string s) => s.Length >= 2 && s[0] == '+' && s.Skip(1).All(char.IsAsciiDigit);

    /// <summary>
    /// Starts an Originate. Returns null when it was queued; <paramref name="answered"/> completes with
    /// true when the first leg answered (for a synchronous Originate), false when it failed.
    /// </summary>
    public Call StartOriginate(OriginateSpec spec, TaskCompletionSource<bool> answered)
    {
        var call = new Call(stopped) { Clock = pbx.RealNow };
        using (pbx.Enter(call))
        {
            pbx.Calls.Add(call);
        }

        // The first leg appears at once (so a caller of StartOriginate knows its Uniqueid); the rest runs on.
        var first = BeginOriginate(call, spec);
        _ = Task.Run(async () =>
        {
            try
            {
                if (first is not null)
                {
                    await RunOriginateAsync(call, spec, first, answered);
                }
            }
            catch (OperationCanceledException) when (stopped.IsCancellationRequested)
            {
                // An Asterisk restart ends every call without further events.
            }
            catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or KeyNotFoundException or NullReferenceException or IOException or UnauthorizedAccessException)
            {
                LogFlowFailed(logger, ex, spec.Channel);
            }
            finally
            {
                answered.TrySetResult(false);
                using (pbx.Enter(call))
                {
                    pbx.Calls.Remove(call);
                }

                call.Done.TrySetResult();
            }
        });
        return call;
    }

    private Leg? BeginOriginate(Call call, OriginateSpec spec)
    {
        Leg? a;
        using (pbx.Enter(call))
        {
            if (spec.ChannelId is { } id && (pbx.UniqueidInUse(id) || pbx.UniqueidInUse(id + ";2")))
            {
                // Asterisk does not create a second channel with a Uniqueid in use: the async Originate
                // fails with Reason 0 and no channel appears (seen on a lab Asterisk 22.10.1; core_unreal.c takes the preset id).
                OriginateResponse(spec, null, false, 0);
                return null;
            }

            a = CreateOriginateLeg(call, spec);
            if (a is null)
            {
                // No such endpoint or extension: the request fails before any channel exists (main/dial.c).
                OriginateResponse(spec, null, false, 0);
                return null;
            }

            StartRinging(null, [a]);
            return a;
        }
    }

    private async Task RunOriginateAsync(Call call, OriginateSpec spec, Leg a, TaskCompletionSource<bool> answered)
    {
        var outcome = await RingAsync(call, null, [a], spec.TimeoutSeconds, dialplanDial: false);
        using (pbx.Enter(call))
        {
            if (outcome.Answered is null)
            {
                // pbx.c pbx_outgoing_attempt: the legacy reason code of why the first leg did not answer.
                var reason = outcome.Status switch
                {
                    "BUSY" => 5,
                    "CONGESTION" => 8,
                    "NOANSWER" => 3,
                    _ => 0,
                };
                OriginateResponse(spec, null, false, reason);
                answered.TrySetResult(false);
                TearDownRejected(a);
                return;
            }

            // c2c-answered.ami: OriginateResponse Success right after the first leg answered, before
            // the dialplan runs (and so before the customer is dialled).
            OriginateResponse(spec, a.Outer, true, 4);
            answered.TrySetResult(true);
            if (a.AnswerPending)
            {
                pbx.Dial("DialEnd", null, a.Outer, "DialStatus", "ANSWER");
                pbx.Newstate(a.Inner ?? a.Outer, 6);
            }

            InnerAfterAnswer(a);
        }

        await RunDialplanAsync(call, a, spec.Context, spec.Exten);
    }

    private void OriginateResponse(OriginateSpec spec, Channel? ch, bool success, int reason)
    {
        // main/manager.c generic_http_callback / fast_originate: Channel is the requested string and
        // Uniqueid <unknown> when no channel answered (c2c-user-busy.ami).
        var fields = new List<KeyValuePair<string, string>>();
        if (spec.ActionId is not null)
        {
            fields.Add(new("ActionID", spec.ActionId));
        }

        fields.Add(new("Response", success ? "Success" : "Failure"));
        fields.Add(new("Channel", ch?.Name ?? spec.Channel));
        fields.Add(new("Context", spec.Context));
        fields.Add(new("Exten", spec.Exten));
        fields.Add(new("Reason", reason.ToString(CultureInfo.InvariantCulture)));
        fields.Add(new("Uniqueid", ch?.Uniqueid ?? "<unknown>"));
        fields.Add(new("CallerIDNum", ch?.CallerIdNum ?? spec.CallerIdNum ?? spec.Exten));
        fields.Add(new("CallerIDName", ch?.CallerIdName ?? spec.CallerIdName ?? "<unknown>"));
        pbx.Emit("OriginateResponse", "call,all", fields);
    }

    /// <summary>The plan and naming of a dialled target such as <c>Local/101@phones</c> or <c>PJSIP/101</c>.</summary>
    private (LegRole Role, LegPlan Plan, string Tech, string Resource, string Context)? Resolve(string channel)
    {
        var spec = channel.EndsWith("/n", StringComparison.Ordinal) ? channel[..^2] : channel;
        var slash = spec.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            return null;
        }

        var tech = spec[..slash];
        var rest = spec[(slash + 1)..];
        if (tech.Equals("PJSIP", StringComparison.OrdinalIgnoreCase))
        {
            return _o.Phones.TryGetValue(rest, out var p) ? (LegRole.Phone, LegPlan.From(p), "PJSIP", rest, "phones") : null;
        }

        if (!tech.Equals("Local", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var at = rest.IndexOf('@', StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }

        var exten = rest[..at];
        var context = rest[(at + 1)..];
        if (!ExtensionExists(context, exten))
        {
            return null;
        }

        return context switch
        {
            "phones" => (LegRole.Phone, LegPlan.From(_o.Phones[exten]), "Local", exten, context),
            "pstn" => (LegRole.Customer, CustomerPlan(exten), "Local", exten, context),
            "callers" => (LegRole.Caller, CallerPlan(exten), "Local", exten, context),
            "deskphone" => (LegRole.Desk, LegPlan.AtOnce(_o.DeskPhoneOffHook, null), "Local", exten, context),
            _ => null,
        };
    }

    private LegPlan CustomerPlan(string number) => LegPlan.From(_o.Customers.TryGetValue(number, out var b) ? b : _o.DefaultCustomer);

    // The lab's callers context: a caller who gives up just waits (no tone); the others play a tone.
    private LegPlan CallerPlan(string number) =>
        _o.CallerGivesUpAfter.TryGetValue(number, out var s) ? LegPlan.AtOnce(s, null) : LegPlan.AtOnce(_o.CallerPatience, "440");

    private Leg? CreateOriginateLeg(Call call, OriginateSpec spec)
    {
        var r = Resolve(spec.Channel);
        if (r is not { } t)
        {
            return null;
        }

        var plan = spec.PlanOverride ?? t.Plan;
        var cidNum = spec.CallerIdNum ?? spec.Exten;
        var cidName = spec.CallerIdName ?? "<unknown>";
        var suffix = pbx.NextChannelSuffix();
        if (t.Tech == "PJSIP")
        {
            // chan_pjsip.c names the channel PJSIP/<endpoint>-%08x; an endpoint channel is created in its
            // endpoint's context (FreePBX: from-internal) with exten s.
            var ch = pbx.NewChannel($"PJSIP/{t.Resource}-{suffix}", "from-internal", "s", null, spec.ChannelId, 0, call);
            foreach (var v in spec.Variables)
            {
                pbx.VarSet(ch, v.Key, v.Value);
            }

            pbx.NewCallerid(ch, cidNum, cidName);
            pbx.NewConnectedLine(ch, cidNum, cidName);
            var leg = new Leg { Outer = ch, Plan = plan, DialString = t.Resource, Interface = $"PJSIP/{t.Resource}", Role = t.Role, RingStart = pbx.Now };
            pbx.Dial("DialBegin", null, ch, "DialString", leg.DialString);
            return leg;
        }

        // c2c-answered.ami: ;1 then ;2 (core_unreal.c), AppDial2 on ;1, the Variables on ;1, its caller
        // id, then the same on ;2, then LocalBridge and DialBegin with no calling channel.
        var name = $"Local/{t.Resource}@{t.Context}-{suffix}";
        var one = pbx.NewChannel(name + ";1", t.Context, t.Resource, null, spec.ChannelId, 0, call);
        var two = pbx.NewChannel(name + ";2", t.Context, t.Resource, one.Linkedid, spec.ChannelId is { } cid ? cid + ";2" : null, 4, call);
        one.LocalPeer = two;
        two.LocalPeer = one;
        pbx.Newexten(one, "AppDial2", "(Outgoing Line)");
        foreach (var v in spec.Variables)
        {
            pbx.VarSet(one, v.Key, v.Value);
        }

        pbx.NewCallerid(one, cidNum, cidName);
        pbx.NewConnectedLine(one, cidNum, cidName);
        foreach (var v in spec.Variables)
        {
            pbx.VarSet(two, v.Key, v.Value);
        }

        two.ConnectedNum = cidNum;
        two.ConnectedName = cidName;
        pbx.NewCallerid(two, cidNum, cidName);
        pbx.NewConnectedLine(two, cidNum, cidName);
        pbx.LocalBridge(one, two);
        var local = new Leg { Outer = one, Inner = two, Plan = plan, DialString = $"{t.Resource}@{t.Context}", Interface = $"Local/{t.Resource}@{t.Context}/n", Role = t.Role, RingStart = pbx.Now };
        pbx.Dial("DialBegin", null, one, "DialString", local.DialString);
        return local;
    }

    /// <summary>
    /// Creates the legs Dial (or Queue) rings from <paramref name="caller"/>, as inbound-ringgroup-answered.ami
    /// shows: every leg's ;1 side first, then each ;2 side, LocalBridge and DialBegin.
    /// </summary>
    private List<Leg> CreateDialLegs(Call call, Channel caller, IEnumerable<string> targets, bool setDialedPeer)
    {
        var legs = new List<Leg>();
        foreach (var target in targets)
        {
            var r = Resolve(target);
            if (r is not { } t)
            {
                continue;
            }

            var suffix = pbx.NextChannelSuffix();
            if (t.Tech == "PJSIP")
            {
                var ch = pbx.NewChannel($"PJSIP/{t.Resource}-{suffix}", "from-internal", "s", caller.Linkedid, null, 0, call);
                if (setDialedPeer)
                {
                    pbx.VarSet(ch, "DIALEDPEERNUMBER", t.Resource);
                }

                ch.Exten = caller.Exten;
                ch.CallerIdNum = caller.Exten;
                ch.CallerIdName = caller.CallerIdName;
                pbx.Newexten(ch, "AppDial", "(Outgoing Line)");
                // app_dial.c gives the callee the caller's dialled exten as its caller id, and the
                // caller's id as its connected line (the DID on an inbound ring group's DialBegin).
                ch.ConnectedNum = caller.CallerIdNum;
                ch.ConnectedName = caller.CallerIdName;
                pbx.NewCallerid(ch, caller.Exten, caller.CallerIdName);
                pbx.NewConnectedLine(ch, caller.CallerIdNum, caller.CallerIdName);
                legs.Add(new Leg { Outer = ch, Plan = t.Plan, DialString = t.Resource, Interface = $"PJSIP/{t.Resource}", Role = t.Role, RingStart = pbx.Now });
                continue;
            }

            var name = $"Local/{t.Resource}@{t.Context}-{suffix}";
            var one = pbx.NewChannel(name + ";1", t.Context, t.Resource, caller.Linkedid, null, 0, call);
            var two = pbx.NewChannel(name + ";2", t.Context, t.Resource, caller.Linkedid, null, 4, call);
            one.LocalPeer = two;
            two.LocalPeer = one;
            var dialString = $"{t.Resource}@{t.Context}";
            if (setDialedPeer)
            {
                pbx.VarSet(one, "DIALEDPEERNUMBER", dialString);
            }

            one.Exten = caller.Exten;
            one.CallerIdNum = caller.Exten;
            one.CallerIdName = caller.CallerIdName;
            one.ConnectedNum = caller.CallerIdNum;
            one.ConnectedName = caller.CallerIdName;
            pbx.Newexten(one, "AppDial", "(Outgoing Line)");
            pbx.NewCallerid(one, caller.Exten, caller.CallerIdName);
            pbx.NewConnectedLine(one, caller.CallerIdNum, caller.CallerIdName);
            legs.Add(new Leg { Outer = one, Inner = two, Plan = t.Plan, DialString = dialString, Interface = $"Local/{t.Resource}@{t.Context}/n", Role = t.Role, RingStart = pbx.Now });
        }

        foreach (var leg in legs)
        {
            if (leg.Inner is { } two)
            {
                if (setDialedPeer)
                {
                    pbx.VarSet(two, "DIALEDPEERNUMBER", leg.DialString);
                }

                two.ConnectedNum = caller.Exten;
                two.ConnectedName = caller.CallerIdName;
                pbx.NewCallerid(two, caller.CallerIdNum, caller.CallerIdName);
                pbx.NewConnectedLine(two, caller.Exten, caller.CallerIdName);
                pbx.LocalBridge(leg.Outer, two);
            }

            pbx.Dial("DialBegin", caller, leg.Outer, "DialString", leg.DialString);
        }

        return legs;
    }

    private void InnerApp(Leg leg, string app, string data)
    {
        if (leg.Inner is { } two)
        {
            leg.InnerPriority++;
            pbx.Newexten(two, app, data, leg.InnerPriority);
        }
    }

    /// <summary>The party's first dialplan steps: <c>Ringing()</c> and <c>Wait(n)</c>, or <c>Busy(2)</c>, or <c>Answer()</c> at once.</summary>
    private void StartRinging(Channel? caller, List<Leg> legs, bool dialVariables = true)
    {
        foreach (var leg in legs)
        {
            leg.RingStart = pbx.Now;
            switch (leg.Plan.Kind)
            {
                case PartyKind.Busy:
                    InnerApp(leg, "Busy", "2");
                    pbx.Newstate(leg.Inner ?? leg.Outer, 7);
                    break;
                case PartyKind.Congestion:
                    InnerApp(leg, "Congestion", "2");
                    break;
                case PartyKind.Answers when !leg.Plan.RingsFirst:
                    break;
                default:
                    InnerApp(leg, "Ringing", "");
                    pbx.Newstate(leg.Outer, 5);
                    if (caller is null)
                    {
                        pbx.Dial("DialState", null, leg.Outer, "DialStatus", "RINGING");
                    }

                    InnerApp(leg, "Wait", leg.Plan.Ring.ToString(CultureInfo.InvariantCulture));
                    break;
            }
        }

        if (caller is not null)
        {
            // inbound-missed.ami: a busy leg's DialEnd and hangup come before the others' DialState.
            RejectBusyLegs(caller, legs);
        }

        if (caller is not null && legs.Any(l => l.Plan.Kind is PartyKind.Answers or PartyKind.NeverAnswers && l.Plan.RingsFirst))
        {
            if (dialVariables)
            {
                pbx.VarSet(caller, "RINGTIME", "0");
                pbx.VarSet(caller, "RINGTIME_MS", "0");
            }

            foreach (var leg in legs.Where(l => l.Plan.Kind is PartyKind.Answers or PartyKind.NeverAnswers && l.Plan.RingsFirst).Reverse())
            {
                pbx.Dial("DialState", caller, leg.Outer, "DialStatus", "RINGING");
            }
        }
    }

    /// <summary>The outcome of ringing: the leg that answered, or why none did.</summary>
    private sealed record RingOutcome(Leg? Answered, string Status, bool CallerGone);

    /// <summary>
    /// Rings <paramref name="legs"/> until one answers, all fail, the timeout passes, or the calling side
    /// (<paramref name="a"/>) goes. app_dial.c: the first answer wins, the others get DialEnd CANCEL and
    /// cause 26.
    /// </summary>
    private async Task<RingOutcome> RingAsync(Call call, Leg? a, List<Leg> legs, int timeoutSeconds, bool dialplanDial, Action<Leg>? onAnswer = null, Action? beforeCallerLeaves = null)
    {
        var caller = a?.Outer;
        var deadline = pbx.Now.AddSeconds(timeoutSeconds);
        using (pbx.Enter(call))
        {
            RejectBusyLegs(caller, legs);

            foreach (var leg in legs.Where(l => l.IsRinging && l.Plan.Kind == PartyKind.Answers && !l.Plan.RingsFirst))
            {
                return new RingOutcome(AnswerLeg(caller, leg, legs, dialplanDial, onAnswer), "ANSWER", false);
            }
        }

        while (true)
        {
            DateTimeOffset next;
            using (pbx.Enter(call))
            {
                if (!legs.Any(l => l.IsRinging))
                {
                    var status = legs.Select(l => l.Status).FirstOrDefault(s => s is "BUSY" or "CONGESTION") ?? "NOANSWER";
                    if (caller is not null && dialplanDial)
                    {
                        pbx.VarSet(caller, "DIALSTATUS", status);
                    }

                    return new RingOutcome(null, status, false);
                }

                next = deadline;
                foreach (var leg in legs.Where(l => l.IsRinging))
                {
                    if (leg.EndsAt is { } e && e < next)
                    {
                        next = e;
                    }
                }

                if (a?.EndsAt is { } ae && ae < next)
                {
                    next = ae;
                }
            }

            var timedOut = await call.WaitUntilAsync(next, pbx);
            using (pbx.Enter(call))
            {
                if (!timedOut)
                {
                    var request = call.Take();
                    if (request is HangupRequestItem h)
                    {
                        if (a is not null && a.All.Contains(h.Channel))
                        {
                            pbx.HangupRequest(h.Channel, h.Cause, soft: true);
                            beforeCallerLeaves?.Invoke();
                            CallerLeavesWhileRinging(a, legs, dialplanDial, self: false);
                            return new RingOutcome(null, "CANCEL", true);
                        }

                        if (legs.FirstOrDefault(l => l.IsRinging && l.All.Contains(h.Channel)) is { } rejected)
                        {
                            pbx.HangupRequest(h.Channel, h.Cause, soft: true);
                            rejected.Status = h.Cause == 17 ? "BUSY" : "NOANSWER";
                            pbx.Dial("DialEnd", caller, rejected.Outer, "DialStatus", rejected.Status);
                            TearDownRejected(rejected);
                        }
                    }

                    continue;
                }

                var now = pbx.Now;
                if (a?.EndsAt is { } aEnd && aEnd <= now && (legs.Where(l => l.IsRinging).All(l => l.EndsAt is not { } e || aEnd <= e)))
                {
                    beforeCallerLeaves?.Invoke();
                    CallerLeavesWhileRinging(a, legs, dialplanDial, self: true);
                    return new RingOutcome(null, "CANCEL", true);
                }

                var due = legs.Where(l => l.IsRinging && l.EndsAt is { } e && e <= now).OrderBy(l => l.EndsAt).FirstOrDefault();
                if (due is not null && due.Plan.Kind == PartyKind.Answers)
                {
                    return new RingOutcome(AnswerLeg(caller, due, legs, dialplanDial, onAnswer), "ANSWER", false);
                }

                if (due is not null)
                {
                    // A phone that rings out by itself: Wait(60) ends, Hangup(19) (the lab's 103).
                    InnerApp(due, "Hangup", "19");
                    due.Status = "NOANSWER";
                    pbx.Dial("DialEnd", caller, due.Outer, "DialStatus", "NOANSWER");
                    EndRingingLeg(due, 19);
                    continue;
                }

                if (now >= deadline)
                {
                    // app_dial.c: the timeout gives NOANSWER and every outgoing channel is hung up.
                    foreach (var leg in legs.Where(l => l.IsRinging))
                    {
                        leg.Status = "NOANSWER";
                        pbx.Dial("DialEnd", caller, leg.Outer, "DialStatus", "NOANSWER");
                        EndRingingLeg(leg, 16);
                    }
                }
            }
        }
    }

    private void RejectBusyLegs(Channel? caller, List<Leg> legs)
    {
        foreach (var leg in legs.Where(l => l.Status is null && l.Plan.Kind is PartyKind.Busy or PartyKind.Congestion))
        {
            var status = leg.Plan.Kind == PartyKind.Busy ? "BUSY" : "CONGESTION";
            leg.Status = status;
            pbx.Dial("DialEnd", caller, leg.Outer, "DialStatus", status);
            if (caller is not null)
            {
                // An Originate's own first leg is torn down after OriginateResponse (c2c-user-busy.ami).
                TearDownRejected(leg);
            }
        }
    }

    private Leg AnswerLeg(Channel? caller, Leg leg, List<Leg> legs, bool dialplanDial, Action<Leg>? onAnswer)
    {
        InnerApp(leg, "Answer", "");
        if (caller is null && leg.Role == LegRole.Desk)
        {
            // desk-outbound.ami: the ;1 is up and OriginateResponse goes before DialEnd and the ;2's Newstate.
            pbx.Newstate(leg.Outer, 6);
            leg.AnsweredAt = pbx.Now;
            leg.AnswerPending = true;
            return leg;
        }

        if (leg.Inner is { } two)
        {
            pbx.Newstate(two, 6);
        }

        pbx.Newstate(leg.Outer, 6);
        leg.AnsweredAt = pbx.Now;
        onAnswer?.Invoke(leg);
        foreach (var other in legs.Where(l => l != leg && l.IsRinging))
        {
            // app_dial.c: DialEnd CANCEL to the other legs, hung up with cause 26 (answered elsewhere).
            other.Status = "CANCEL";
            pbx.Dial("DialEnd", caller, other.Outer, "DialStatus", "CANCEL");
            if (other.Inner is { } i)
            {
                pbx.HangupRequest(i, 26, soft: false);
            }

            pbx.Hangup(other.Outer, 26);
        }

        if (caller is not null && dialplanDial)
        {
            pbx.VarSet(caller, "DIALSTATUS", "ANSWER");
            pbx.VarSet(caller, "DIALEDPEERNAME", leg.Outer.Name);
            pbx.VarSet(caller, "DIALEDPEERNUMBER", leg.DialString);
        }

        if (leg.Inner is not null && caller is not null)
        {
            // app_dial.c: the answered outgoing Local ;1 shows an empty Exten from here on.
            leg.Outer.Exten = "";
        }

        pbx.Dial("DialEnd", caller, leg.Outer, "DialStatus", "ANSWER");
        return leg;
    }

    /// <summary>The cancelled legs' ;2 halves finish going (inbound-ringgroup-answered.ami: after the bridge forms).</summary>
    private void FinishCancelled(List<Leg> legs)
    {
        foreach (var leg in legs.Where(l => l.Status == "CANCEL" && l.Inner is { Gone: false }))
        {
            pbx.HangupRequest(leg.Inner!, 16, soft: true);
            pbx.Hangup(leg.Inner!, 26);
        }
    }

    /// <summary>A busy/congested leg goes (c2c-user-busy.ami): HangupRequest ;2 cause 0, Hangup ;1 cause 0, then ;2 with 17.</summary>
    private void TearDownRejected(Leg leg)
    {
        var cause = leg.Plan.Kind == PartyKind.Congestion ? 34 : leg.Plan.Kind == PartyKind.Busy ? 17 : 16;
        if (leg.Inner is { } two)
        {
            pbx.HangupRequest(two, 0, soft: false);
            pbx.Hangup(leg.Outer, 0);
            pbx.HangupRequest(two, 16, soft: true);
            pbx.Hangup(two, cause);
        }
        else
        {
            pbx.Hangup(leg.Outer, cause);
        }
    }

    private void EndRingingLeg(Leg leg, int cause)
    {
        if (leg.Inner is { } two)
        {
            pbx.HangupRequest(two, cause, soft: false);
            pbx.Hangup(leg.Outer, cause);
            pbx.HangupRequest(two, cause, soft: true);
            pbx.Hangup(two, cause);
        }
        else
        {
            pbx.Hangup(leg.Outer, cause);
        }
    }

    /// <summary>The caller hangs up while the phones ring (inbound-missed.ami).</summary>
    private void CallerLeavesWhileRinging(Leg a, List<Leg> legs, bool dialplanDial, bool self)
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
        }

        CdrOuter(a, legs);
        foreach (var leg in legs.Where(l => l.IsRinging))
        {
            leg.Status = "CANCEL";
            pbx.Dial("DialEnd", a.Outer, leg.Outer, "DialStatus", "CANCEL");
            if (leg.Inner is { } i)
            {
                pbx.HangupRequest(i, 16, soft: false);
            }

            pbx.Hangup(leg.Outer, 16);
        }

        if (dialplanDial)
        {
            pbx.VarSet(a.Outer, "DIALSTATUS", "CANCEL");
        }

        pbx.HangupRequest(a.Outer, 16, soft: true);
        pbx.Hangup(a.Outer, 16);
        if (a.Inner is { } inner)
        {
            pbx.Hangup(inner, 16);
        }

        foreach (var leg in legs.Where(l => l.Status == "CANCEL" && l.Inner is { Gone: false }))
        {
            pbx.HangupRequest(leg.Inner!, 16, soft: true);
            pbx.Hangup(leg.Inner!, 16);
        }
    }

    /// <summary>What the party's ;2 does once answered: its tone, then <c>Wait(talk)</c>.</summary>
    private void InnerAfterAnswer(Leg leg)
    {
        if (leg.Plan.Tone is { } tone)
        {
            InnerApp(leg, "PlayTones", tone);
        }

        InnerApp(leg, "Wait", leg.Plan.Talk.ToString(CultureInfo.InvariantCulture));
    }

    private void CdrInner(Leg leg)
    {
        if (leg.Inner is { Answered: { } answered } two)
        {
            pbx.Cdr(two, null, "ANSWERED", two.Application, two.AppData, answered);
        }
    }

    /// <summary>cdr.c: the dialling channel's record per dialled party (ANSWERED, NO ANSWER, BUSY…).</summary>
    private void CdrOuter(Leg a, List<Leg> dialled)
    {
        if (a.Outer.Answered is not { } answered)
        {
            return;
        }

        if (dialled.Count == 0)
        {
            pbx.Cdr(a.Outer, null, "ANSWERED", a.Outer.Application, a.Outer.AppData, answered);
            return;
        }

        foreach (var leg in dialled.OrderBy(l => l.AnsweredAt is null))
        {
            var disposition = leg.AnsweredAt is not null ? "ANSWERED" : leg.Status switch
            {
                "BUSY" => "BUSY",
                "CONGESTION" => "CONGESTION",
                _ => "NO ANSWER",
            };
            pbx.Cdr(a.Outer, leg.Outer, disposition, a.Outer.Application, a.Outer.AppData, answered);
        }
    }

    [LoggerMessage(EventId = 7201, Level = LogLevel.Error, Message = "The emulated call from {Channel} failed")]
    private static partial void LogFlowFailed(ILogger logger, Exception exception, string channel);
}
