namespace Switchboard.AsteriskEmulator;

/// <summary>
/// One emulated channel: the fields of a channel snapshot (main/manager_channels.c
/// ast_manager_build_channel_state_string) plus what the emulator needs to run the call.
/// </summary>
internal sealed class Channel(string name, string uniqueid, string linkedid, string context, string exten, DateTimeOffset created)
{
    public string Name { get; } = name;

    public string Uniqueid { get; } = uniqueid;

    public string Linkedid { get; set; } = linkedid;

    public int State { get; set; }

    public string CallerIdNum { get; set; } = "<unknown>";

    public string CallerIdName { get; set; } = "<unknown>";

    public string ConnectedNum { get; set; } = "<unknown>";

    public string ConnectedName { get; set; } = "<unknown>";

    public string Context { get; set; } = context;

    public string Exten { get; set; } = exten;

    public int Priority { get; set; } = 1;

    public string Application { get; set; } = "";

    public string AppData { get; set; } = "";

    public DateTimeOffset Created { get; } = created;

    public DateTimeOffset? Answered { get; set; }

    public string BridgeId { get; set; } = "";

    /// <summary>The other half of a Local channel pair.</summary>
    public Channel? LocalPeer { get; set; }

    /// <summary>The call this channel belongs to.</summary>
    public Call? Call { get; set; }

    public bool Gone { get; set; }

    /// <summary>A hangup asked for from outside (the Hangup action, HangupAll), the cause Asterisk would log.</summary>
    public int? HangupRequested { get; set; }

    public Dictionary<string, string> Variables { get; } = new(StringComparer.Ordinal);

    /// <summary>The recording this channel's MixMonitor writes, if any.</summary>
    public WavRecorder? Recorder { get; set; }

    public static string StateDesc(int state) => state switch
    {
        // main/channel.c ast_state2str
        0 => "Down",
        1 => "Rsrvd",
        2 => "OffHook",
        3 => "Dialing",
        4 => "Ring",
        5 => "Ringing",
        6 => "Up",
        7 => "Busy",
        8 => "Dialing Offhook",
        9 => "Pre-ring",
        _ => "Unknown",
    };

    /// <summary>The snapshot fields with a prefix (<c>Dest</c>, <c>LocalOne</c>…), as main/manager_channels.c writes them.</summary>
    public IEnumerable<KeyValuePair<string, string>> Snapshot(string prefix = "")
    {
        yield return new(prefix + "Channel", Name);
        yield return new(prefix + "ChannelState", State.ToString(System.Globalization.CultureInfo.InvariantCulture));
        yield return new(prefix + "ChannelStateDesc", StateDesc(State));
        yield return new(prefix + "CallerIDNum", CallerIdNum);
        yield return new(prefix + "CallerIDName", CallerIdName);
        yield return new(prefix + "ConnectedLineNum", ConnectedNum);
        yield return new(prefix + "ConnectedLineName", ConnectedName);
        yield return new(prefix + "Language", "en");
        yield return new(prefix + "AccountCode", "");
        yield return new(prefix + "Context", Context);
        yield return new(prefix + "Exten", Exten);
        yield return new(prefix + "Priority", Priority.ToString(System.Globalization.CultureInfo.InvariantCulture));
        yield return new(prefix + "Uniqueid", Uniqueid);
        yield return new(prefix + "Linkedid", Linkedid);
    }
}

/// <summary>A basic bridge (main/bridge_basic.c): its id and members.</summary>
internal sealed class Bridge(string id)
{
    public string Id { get; } = id;

    public List<Channel> Members { get; } = [];

    public IEnumerable<KeyValuePair<string, string>> Fields()
    {
        yield return new("BridgeUniqueid", Id);
        yield return new("BridgeType", "basic");
        yield return new("BridgeTechnology", "simple_bridge");
        yield return new("BridgeCreator", "<unknown>");
        yield return new("BridgeName", "<unknown>");
        yield return new("BridgeNumChannels", Members.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        yield return new("BridgeVideoSourceMode", "none");
    }
}
