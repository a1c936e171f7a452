using System.Globalization;
using Switchboard.Asterisk.Wire;

namespace Switchboard.AsteriskEmulator;

/// <summary>An event as it leaves the emulated Asterisk: its read class (for <c>Events:</c>) and the packet.</summary>
internal sealed record EmittedEvent(string Class, AmiMessage Message);

/// <summary>
/// The emulated Asterisk core: its clock, channels, bridges, counters and the event bus every AMI session
/// reads. Everything that changes state or emits an event runs under <see cref="Gate"/>, so every session
/// sees the same order, as with Asterisk's single stasis topic.
/// </summary>
internal sealed class Pbx(AsteriskEmulatorOptions options, TimeProvider time)
{
    private readonly DateTimeOffset _realStart = time.GetUtcNow();
    private int _uniqueSeq;
    private int _localSeq;

    public object Gate { get; } = new();

    public AsteriskEmulatorOptions Options { get; } = options;

    public TimeProvider Time { get; } = time;

    public Dictionary<string, Channel> Channels { get; } = new(StringComparer.Ordinal);

    public List<Call> Calls { get; } = [];

    /// <summary>When the emulated Asterisk (re)started, for FullyBooted's Uptime.</summary>
    public DateTimeOffset BootedAt { get; set; } = time.GetUtcNow();

    /// <summary>Raised under <see cref="Gate"/> for every event, in order.</summary>
    public event Action<EmittedEvent>? Emitted;

    private Call? _current;

    /// <summary>Emulated wall time: real time since start, scaled by <see cref="AsteriskEmulatorOptions.Speed"/>.</summary>
    public DateTimeOffset RealNow => _realStart + ((Time.GetUtcNow() - _realStart) * Options.Speed);

    /// <summary>
    /// The time events are stamped with: inside a call's step, that call's own clock (the moment its
    /// step was due, so a late timer on a busy machine does not reorder who hangs up first); else
    /// <see cref="RealNow"/>.
    /// </summary>
    public DateTimeOffset Now => _current?.Clock ?? RealNow;

    /// <summary>Takes the gate for one step of <paramref name="call"/>, with the call's clock as <see cref="Now"/>.</summary>
    public GateScope Enter(Call call)
    {
        Monitor.Enter(Gate);
        var previous = _current;
        _current = call;
        return new GateScope(this, previous);
    }

    /// <summary>Releases the gate taken by <see cref="Enter"/>.</summary>
    public readonly struct GateScope(Pbx pbx, Call? previous) : IDisposable
    {
        public void Dispose()
        {
            pbx._current = previous;
            Monitor.Exit(pbx.Gate);
        }
    }

    /// <summary>The real time an emulated span takes.</summary>
    public TimeSpan Real(double emulatedSeconds) => TimeSpan.FromSeconds(Math.Max(0, emulatedSeconds) / Math.Max(0.001, Options.Speed));

    /// <summary>A Uniqueid as main/channel.c makes it: <c>&lt;epoch&gt;.&lt;sequence&gt;</c>.</summary>
    public string NextUniqueid() => $"{Now.ToUnixTimeSeconds()}.{_uniqueSeq++}";

    /// <summary>The <c>%08x</c> suffix shared by both halves of a Local pair and by PJSIP channels (core_unreal.c, chan_pjsip.c).</summary>
    public string NextChannelSuffix() => (_localSeq++).ToString("x8", CultureInfo.InvariantCulture);

    public bool UniqueidInUse(string id) => Channels.Values.Any(c => c.Uniqueid == id);

    public void Emit(string name, string privilege, IEnumerable<KeyValuePair<string, string>> body)
    {
        var fields = new List<KeyValuePair<string, string>> { new("Event", name), new("Privilege", privilege) };
        fields.AddRange(body);
        Emitted?.Invoke(new EmittedEvent(privilege.Split(',')[0], new AmiMessage(fields)));
    }

    public Channel NewChannel(string name, string context, string exten, string? linkedid, string? uniqueid, int state, Call call)
    {
        var id = uniqueid ?? NextUniqueid();
        var ch = new Channel(name, id, linkedid ?? id, context, exten, Now) { State = state, Call = call };
        Channels[name] = ch;
        call.Channels.Add(ch);
        Emit("Newchannel", "call,all", ch.Snapshot());
        return ch;
    }

    public void Newexten(Channel ch, string app, string data, int? priority = null)
    {
        if (priority is { } p)
        {
            ch.Priority = p;
        }

        ch.Application = app;
        ch.AppData = data;
        Emit("Newexten", "dialplan,all", [.. ch.Snapshot(), new("Extension", ch.Exten), new("Application", app), new("AppData", data)]);
    }

    public void VarSet(Channel ch, string variable, string value)
    {
        ch.Variables[variable] = value;
        Emit("VarSet", "dialplan,all", [.. ch.Snapshot(), new("Variable", variable), new("Value", value)]);
    }

    public void Newstate(Channel ch, int state)
    {
        ch.State = state;
        if (state == 6 && ch.Answered is null)
        {
            ch.Answered = Now;
        }

        Emit("Newstate", "call,all", ch.Snapshot());
    }

    public void NewCallerid(Channel ch, string num, string name)
    {
        ch.CallerIdNum = num;
        ch.CallerIdName = name;
        Emit("NewCallerid", "call,all", [.. ch.Snapshot(), new("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")]);
    }

    public void NewConnectedLine(Channel ch, string num, string name)
    {
        ch.ConnectedNum = num;
        ch.ConnectedName = name;
        Emit("NewConnectedLine", "call,all", ch.Snapshot());
    }

    public void LocalBridge(Channel one, Channel two) =>
        // main/core_local.c local_message_to_ami: both halves, then the dialled context/exten.
        Emit("LocalBridge", "call,all", [.. one.Snapshot("LocalOne"), .. two.Snapshot("LocalTwo"), new("Context", two.Context), new("Exten", two.Exten), new("LocalOptimization", "Yes")]);

    public void Dial(string name, Channel? caller, Channel dest, string key, string value)
    {
        // main/manager_channels.c: DialBegin/DialState/DialEnd carry the caller's snapshot only when
        // there is a calling channel (an Originate has none), then the callee's as Dest*.
        var body = new List<KeyValuePair<string, string>>();
        if (caller is not null)
        {
            body.AddRange(caller.Snapshot());
        }

        body.AddRange(dest.Snapshot("Dest"));
        body.Add(new(key, value));
        Emit(name, "call,all", body);
    }

    public void HangupRequest(Channel ch, int cause, bool soft) =>
        Emit(soft ? "SoftHangupRequest" : "HangupRequest", "call,all", [.. ch.Snapshot(), new("Cause", cause.ToString(CultureInfo.InvariantCulture))]);

    public void Hangup(Channel ch, int cause)
    {
        if (ch.Gone)
        {
            return;
        }

        ch.Gone = true;
        Channels.Remove(ch.Name);
        Emit("Hangup", "call,all", [.. ch.Snapshot(), new("Cause", cause.ToString(CultureInfo.InvariantCulture)), new("Cause-txt", CauseText(cause))]);
        ch.Recorder?.CloseSoon(Options.RecordingCloseDelay, Time, Now);
        ch.Call?.Signal();
    }

    public Bridge BridgeCreate()
    {
        var b = new Bridge(Guid.NewGuid().ToString());
        Emit("BridgeCreate", "call,all", b.Fields());
        return b;
    }

    public void BridgeEnter(Bridge b, Channel ch)
    {
        b.Members.Add(ch);
        ch.BridgeId = b.Id;

        // main/bridge_channel.c: on entry every channel of the bridge adopts the oldest Linkedid.
        var oldest = b.Members.Select(m => m.Linkedid).OrderBy(UniqueidOrder).First();
        foreach (var m in b.Members)
        {
            m.Linkedid = oldest;
        }

        Emit("BridgeEnter", "call,all", [.. b.Fields(), .. ch.Snapshot()]);
    }

    public void BridgeLeave(Bridge b, Channel ch)
    {
        b.Members.Remove(ch);
        ch.BridgeId = "";
        Emit("BridgeLeave", "call,all", [.. b.Fields(), .. ch.Snapshot()]);
    }

    public void BridgeDestroy(Bridge b) => Emit("BridgeDestroy", "call,all", b.Fields());

    /// <summary>A Cdr event as cdr/cdr_manager.c writes it (no mappings configured).</summary>
    public void Cdr(Channel ch, Channel? dest, string disposition, string lastApp, string lastData, DateTimeOffset? answered)
    {
        if (!Options.CdrEvents)
        {
            return;
        }

        var end = Now;
        var name = ch.CallerIdName == "<unknown>" ? "" : ch.CallerIdName;
        var source = ch.CallerIdNum == "<unknown>" ? "" : ch.CallerIdNum;
        Emit("Cdr", "cdr,all",
        [
            new("AccountCode", ""),
            new("Source", source),
            new("Destination", ch.Exten),
            new("DestinationContext", ch.Context),
            new("CallerID", $"\"{name}\" <{source}>"),
            new("Channel", ch.Name),
            new("DestinationChannel", dest?.Name ?? ""),
            new("LastApplication", lastApp),
            new("LastData", lastData),
            new("StartTime", CdrTime(ch.Created)),
            new("AnswerTime", answered is { } a ? CdrTime(a) : ""),
            new("EndTime", CdrTime(end)),
            new("Duration", Seconds(end - ch.Created)),
            // main/cdr.c: billsec = end - answer (its docstring says otherwise).
            new("BillableSeconds", answered is { } b ? Seconds(end - b) : "0"),
            new("Disposition", disposition),
            new("AMAFlags", "DOCUMENTATION"),
            new("UniqueID", ch.Uniqueid),
            new("UserField", ch.Variables.GetValueOrDefault("CDR(userfield)", "")),
        ]);
    }

    public static string Seconds(TimeSpan span) => ((long)Math.Max(0, span.TotalSeconds)).ToString(CultureInfo.InvariantCulture);

    public static string Millis(TimeSpan span) => ((long)Math.Max(0, span.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture);

    private static string CdrTime(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    /// <summary>Orders Uniqueids by creation: epoch, then sequence (a preset ChannelId sorts by its text, after numeric ids).</summary>
    public static (long, long, string) UniqueidOrder(string id)
    {
        var parts = id.Split('.');
        if (parts.Length == 2 && long.TryParse(parts[0], CultureInfo.InvariantCulture, out var epoch) && long.TryParse(parts[1], CultureInfo.InvariantCulture, out var seq))
        {
            return (epoch, seq, "");
        }

        return (long.MaxValue, long.MaxValue, id);
    }

    /// <summary>main/causes.h / channel.c causes[] descriptions.</summary>
    public static string CauseText(int cause) => cause switch
    {
        0 => "Unknown",
        1 => "Unallocated (unassigned) number",
        16 => "Normal Clearing",
        17 => "User busy",
        18 => "No user responding",
        19 => "User alerting, no answer",
        21 => "Call Rejected",
        26 => "Answered elsewhere",
        31 => "Normal, unspecified",
        34 => "Circuit/channel congestion",
        127 => "Interworking, unspecified",
        _ => "Unknown",
    };
}
