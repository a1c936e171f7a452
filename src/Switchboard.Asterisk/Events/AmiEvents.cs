using Switchboard.Asterisk.Wire;

namespace Switchboard.Asterisk.Events;

/// <summary>
/// An AMI event. The events the connector uses are typed (below); any other is an
/// <see cref="UnknownAmiEvent"/> with its raw fields. Every event keeps its <see cref="Message"/>.
/// Field names and meanings: https://docs.asterisk.org/Asterisk_22_Documentation/API_Documentation/AMI_Events/
/// Optional text members are null when the field is absent or empty; data that may legitimately be empty
/// (AppData, ApplicationData, a VarSet's Value) is kept as sent.
/// </summary>
/// <param name="Message">The packet as received.</param>
public abstract record AmiEvent(AmiMessage Message)
{
    /// <summary>The <c>Event:</c> name.</summary>
    public string Name => Message.EventName ?? string.Empty;

    /// <summary>The <c>Timestamp:</c> header (seconds since the epoch, microseconds), present when manager.conf has <c>timestampevents = yes</c>.</summary>
    public DateTimeOffset? Timestamp => AmiFields.Timestamp(Message["Timestamp"]);

    /// <summary>The typed event for a packet with an <c>Event:</c> line.</summary>
    /// <exception cref="ArgumentException">The packet has no <c>Event:</c>.</exception>
    public static AmiEvent From(AmiMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var name = message.EventName ?? throw new ArgumentException("The packet has no Event: line.", nameof(message));
        return Typed(name.ToUpperInvariant(), message) ?? new UnknownAmiEvent(message);
    }

    private static AmiEvent? Typed(string name, AmiMessage m)
    {
        switch (name)
        {
            case "FULLYBOOTED":
                return new FullyBootedEvent(m);
            case "RELOAD":
                return new ReloadEvent(m, AmiFields.Text(m["Module"]), AmiFields.Text(m["Status"]));
            case "SHUTDOWN":
                return new ShutdownEvent(m, AmiFields.Text(m["Shutdown"]), AmiFields.IsTrue(m["Restart"]));
            case "ORIGINATERESPONSE":
                return new OriginateResponseEvent(
                    m,
                    string.Equals(m.Response, "Success", StringComparison.OrdinalIgnoreCase),
                    AmiFields.Int(m["Reason"]),
                    AmiFields.Text(m["Channel"]),
                    AmiFields.Text(m["Context"]),
                    AmiFields.Text(m["Exten"]),
                    AmiFields.Known(m["Uniqueid"]));
            case "CDR":
                return new CdrEvent(
                    m,
                    AmiFields.Text(m["UniqueID"]),
                    AmiFields.Text(m["Channel"]),
                    AmiFields.Text(m["DestinationChannel"]),
                    AmiFields.Text(m["Disposition"]),
                    AmiFields.Int(m["Duration"]),
                    AmiFields.Int(m["BillableSeconds"]),
                    AmiFields.Text(m["UserField"]));
            case "BLINDTRANSFER":
                return new BlindTransferEvent(
                    m,
                    AmiFields.Text(m["Result"]),
                    ChannelSnapshot.Read(m, "Transferer"),
                    ChannelSnapshot.Read(m, "Transferee"),
                    AmiFields.Text(m["Context"]),
                    AmiFields.Text(m["Extension"]));
            case "ATTENDEDTRANSFER":
                return new AttendedTransferEvent(
                    m,
                    AmiFields.Text(m["Result"]),
                    ChannelSnapshot.Read(m, "OrigTransferer"),
                    ChannelSnapshot.Read(m, "SecondTransferer"),
                    ChannelSnapshot.Read(m, "Transferee"),
                    ChannelSnapshot.Read(m, "TransferTarget"),
                    AmiFields.Text(m["DestType"]));
            case "QUEUECALLERJOIN" or "QUEUECALLERLEAVE" or "QUEUECALLERABANDON" or "AGENTCALLED" or "AGENTCONNECT"
                or "AGENTRINGNOANSWER" or "AGENTCOMPLETE" or "AGENTDUMP":
                return new QueueEvent(
                    m,
                    ChannelSnapshot.Read(m),
                    ChannelSnapshot.Read(m, "Dest"),
                    AmiFields.Text(m["Queue"]),
                    AmiFields.Text(m["MemberName"]),
                    AmiFields.Text(m["Interface"]));
            case "DIALBEGIN":
                return ChannelSnapshot.Read(m, "Dest") is { } beginDest
                    ? new DialBeginEvent(m, ChannelSnapshot.Read(m), beginDest, AmiFields.Text(m["DialString"]))
                    : null;
            case "DIALEND":
                return ChannelSnapshot.Read(m, "Dest") is { } endDest
                    ? new DialEndEvent(m, ChannelSnapshot.Read(m), endDest, AmiFields.Text(m["DialStatus"]), AmiFields.Text(m["Forward"]))
                    : null;
            default:
                break;
        }

        return ChannelSnapshot.Read(m) is { } snapshot ? TypedChannelEvent(name, m, snapshot) : null;
    }

    private static ChannelEvent? TypedChannelEvent(string name, AmiMessage m, ChannelSnapshot snapshot) => name switch
    {
        "NEWCHANNEL" => new NewchannelEvent(m, snapshot),
        "NEWEXTEN" => new NewextenEvent(m, snapshot, AmiFields.Text(m["Extension"]), AmiFields.Text(m["Application"]), m["AppData"]),
        "NEWSTATE" => new NewstateEvent(m, snapshot),
        "HANGUP" => new HangupEvent(m, snapshot, AmiFields.Int(m["Cause"]), AmiFields.Text(m["Cause-txt"])),
        "VARSET" => m["Variable"] is { Length: > 0 } variable ? new VarSetEvent(m, snapshot, variable, m["Value"]) : null,
        "MIXMONITORSTART" => new MixMonitorStartEvent(m, snapshot),
        "MIXMONITORSTOP" => new MixMonitorStopEvent(m, snapshot),
        "BRIDGEENTER" => m["BridgeUniqueid"] is { Length: > 0 } enterBridge
            ? new BridgeEnterEvent(m, snapshot, enterBridge, AmiFields.Text(m["BridgeType"]), AmiFields.Text(m["SwapUniqueid"]))
            : null,
        "BRIDGELEAVE" => m["BridgeUniqueid"] is { Length: > 0 } leaveBridge
            ? new BridgeLeaveEvent(m, snapshot, leaveBridge, AmiFields.Text(m["BridgeType"]))
            : null,
        "CORESHOWCHANNEL" => new CoreShowChannelEvent(
            m,
            snapshot,
            AmiFields.Text(m["Application"]),
            m["ApplicationData"],
            AmiFields.Duration(m["Duration"]),
            AmiFields.Text(m["BridgeId"])),
        _ => null,
    };
}

/// <summary>An event the library has no type for; its fields are in <see cref="AmiEvent.Message"/>.</summary>
public sealed record UnknownAmiEvent(AmiMessage Message) : AmiEvent(Message);

/// <summary>An event about one channel (its snapshot without prefix). A malformed one (no Channel or Uniqueid) is an <see cref="UnknownAmiEvent"/>.</summary>
public abstract record ChannelEvent(AmiMessage Message, ChannelSnapshot Snapshot) : AmiEvent(Message);

/// <summary>Newchannel.</summary>
public sealed record NewchannelEvent(AmiMessage Message, ChannelSnapshot Snapshot) : ChannelEvent(Message, Snapshot);

/// <summary>Newexten: the channel moved in the dialplan. <see cref="AppData"/> is after substitution, kept as sent (empty when the application has no argument).</summary>
public sealed record NewextenEvent(AmiMessage Message, ChannelSnapshot Snapshot, string? Extension, string? Application, string? AppData) : ChannelEvent(Message, Snapshot);

/// <summary>Newstate.</summary>
public sealed record NewstateEvent(AmiMessage Message, ChannelSnapshot Snapshot) : ChannelEvent(Message, Snapshot);

/// <summary>Hangup: <see cref="Cause"/> is the Q.850 cause (16 normal, 17 busy, 26 answered elsewhere…).</summary>
public sealed record HangupEvent(AmiMessage Message, ChannelSnapshot Snapshot, int? Cause, string? CauseText) : ChannelEvent(Message, Snapshot);

/// <summary>
/// VarSet: a channel variable set (MIXMONITOR_FILENAME, ANSWEREDTIME_MS, the connector's own call id variable…).
/// <see cref="Value"/> is kept as sent: empty is a value (app_dial clears DIALSTATUS that way). A global
/// variable comes with <c>Channel: none</c>.
/// </summary>
public sealed record VarSetEvent(AmiMessage Message, ChannelSnapshot Snapshot, string Variable, string? Value) : ChannelEvent(Message, Snapshot);

/// <summary>MixMonitorStart (no file name: that comes as VarSet MIXMONITOR_FILENAME).</summary>
public sealed record MixMonitorStartEvent(AmiMessage Message, ChannelSnapshot Snapshot) : ChannelEvent(Message, Snapshot);

/// <summary>MixMonitorStop (only on an explicit stop, not on hangup).</summary>
public sealed record MixMonitorStopEvent(AmiMessage Message, ChannelSnapshot Snapshot) : ChannelEvent(Message, Snapshot);

/// <summary>
/// DialBegin. <see cref="Caller"/> is null when the dial has no calling channel (an Originate dialling its
/// first leg sends only the <c>Dest*</c> fields, as Asterisk 22.10.1 sends it).
/// </summary>
public sealed record DialBeginEvent(AmiMessage Message, ChannelSnapshot? Caller, ChannelSnapshot Destination, string? DialString) : AmiEvent(Message);

/// <summary>DialEnd: <see cref="DialStatus"/> ANSWER, BUSY, CANCEL, NOANSWER, CONGESTION, CHANUNAVAIL, ABORT, CONTINUE, GOTO.</summary>
public sealed record DialEndEvent(AmiMessage Message, ChannelSnapshot? Caller, ChannelSnapshot Destination, string? DialStatus, string? Forward) : AmiEvent(Message);

/// <summary>BridgeEnter / BridgeLeave: a channel joined or left a bridge.</summary>
public sealed record BridgeEnterEvent(AmiMessage Message, ChannelSnapshot Snapshot, string BridgeUniqueid, string? BridgeType, string? SwapUniqueid) : ChannelEvent(Message, Snapshot);

/// <summary>BridgeLeave.</summary>
public sealed record BridgeLeaveEvent(AmiMessage Message, ChannelSnapshot Snapshot, string BridgeUniqueid, string? BridgeType) : ChannelEvent(Message, Snapshot);

/// <summary>
/// OriginateResponse, the outcome of an <c>Async: true</c> Originate, correlated by ActionID. Reason is
/// the legacy control code (main/pbx.c): 4 answered, 5 busy, 3 no answer, 8 congestion, 1 hung up, 0 other.
/// <see cref="Uniqueid"/> is null when no channel was made (Asterisk writes <c>&lt;unknown&gt;</c>).
/// The packet carries both <c>Event:</c> and <c>Response:</c>; it is an event.
/// </summary>
public sealed record OriginateResponseEvent(AmiMessage Message, bool Success, int? Reason, string? Channel, string? Context, string? Exten, string? Uniqueid) : AmiEvent(Message);

/// <summary>BlindTransfer: <see cref="Transferer"/> sent <see cref="Transferee"/> to <see cref="Extension"/>@<see cref="Context"/>.</summary>
public sealed record BlindTransferEvent(AmiMessage Message, string? Result, ChannelSnapshot? Transferer, ChannelSnapshot? Transferee, string? Context, string? Extension) : AmiEvent(Message);

/// <summary>AttendedTransfer.</summary>
public sealed record AttendedTransferEvent(AmiMessage Message, string? Result, ChannelSnapshot? OrigTransferer, ChannelSnapshot? SecondTransferer, ChannelSnapshot? Transferee, ChannelSnapshot? TransferTarget, string? DestType) : AmiEvent(Message);

/// <summary>
/// A queue event (QueueCallerJoin, QueueCallerLeave, QueueCallerAbandon, AgentCalled, AgentConnect,
/// AgentRingNoAnswer, AgentComplete, AgentDump): the caller's snapshot, the member's (<c>Dest*</c>), the queue.
/// </summary>
public sealed record QueueEvent(AmiMessage Message, ChannelSnapshot? Caller, ChannelSnapshot? Member, string? Queue, string? MemberName, string? Interface) : AmiEvent(Message);

/// <summary>Cdr (cdr_manager): one per party A channel when the CDR is posted.</summary>
public sealed record CdrEvent(AmiMessage Message, string? UniqueId, string? Channel, string? DestinationChannel, string? Disposition, int? Duration, int? BillableSeconds, string? UserField) : AmiEvent(Message);

/// <summary>CoreShowChannel: one live channel, an item of the CoreShowChannels list (the resync source after a reconnect).</summary>
public sealed record CoreShowChannelEvent(AmiMessage Message, ChannelSnapshot Snapshot, string? Application, string? ApplicationData, TimeSpan? Duration, string? BridgeId) : ChannelEvent(Message, Snapshot);

/// <summary>FullyBooted: sent to a session after login once Asterisk has booted.</summary>
public sealed record FullyBootedEvent(AmiMessage Message) : AmiEvent(Message);

/// <summary>Reload (<c>core reload</c>, a module reload).</summary>
public sealed record ReloadEvent(AmiMessage Message, string? Module, string? Status) : AmiEvent(Message);

/// <summary>Shutdown (often never reaches the client: <c>core stop now</c> just closes the socket).</summary>
public sealed record ShutdownEvent(AmiMessage Message, string? Shutdown, bool Restart) : AmiEvent(Message);
