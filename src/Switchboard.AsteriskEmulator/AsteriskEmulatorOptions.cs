namespace Switchboard.AsteriskEmulator;

/// <summary>
/// How the emulated Asterisk looks and which office it serves. Every default reproduces the lab the
/// transcripts in tests/Fixtures/asterisk were recorded on (Asterisk 22.10.1, phones on Local channels,
/// manager.conf user <c>switchboard</c>/<c>s3cret</c>), so its events compare with them.
/// </summary>
public sealed class AsteriskEmulatorOptions
{
    /// <summary>Configuration section for hosts that bind it.</summary>
    public const string SectionName = "AsteriskEmulator";

    /// <summary>The loopback address to listen on.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>TCP port; 0 picks a free one (see <see cref="EmulatedAsterisk.Port"/>). Asterisk's default is 5038.</summary>
    public int Port { get; set; } = 5038;

    /// <summary>The manager.conf user name.</summary>
    public string Username { get; set; } = "switchboard";

    /// <summary>The manager.conf secret.</summary>
    public string Secret { get; set; } = "s3cret";

    /// <summary>
    /// How long a wrong secret waits before <c>Authentication failed</c> and the close: main/manager.c
    /// sleeps 1 s to slow password guessing; tests shorten it.
    /// </summary>
    public TimeSpan AuthFailureDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How many emulated seconds pass per real second: 1 = real time; tests use 10 or 20. Applied to
    /// every ring, talk and give-up time; durations on the wire (Duration, ANSWEREDTIME, Cdr) are in
    /// emulated seconds.
    /// </summary>
    public double Speed { get; set; } = 1;

    /// <summary>Whether phones are <c>Local/&lt;ext&gt;@phones</c> channels (the lab) or <c>PJSIP/&lt;ext&gt;</c> endpoints (a real PBX).</summary>
    public PhoneTechnology PhoneTechnology { get; set; } = PhoneTechnology.Local;

    /// <summary>Emit <c>Cdr</c> events (cdr_manager.conf <c>enabled = yes</c>, as in the lab).</summary>
    public bool CdrEvents { get; set; } = true;

    /// <summary>
    /// Where MixMonitor writes its WAV files (real files); null = a <c>switchboard-asterisk-rec</c> folder
    /// under the system temp folder. The full path is what <c>MIXMONITOR_FILENAME</c> reports.
    /// </summary>
    public string? RecordingDirectory { get; set; }

    /// <summary>How long after the hangup a recording file is closed (MixMonitor closes it in its own thread after the channel goes).</summary>
    public TimeSpan RecordingCloseDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The office's phones by extension. The lab: 101 answers after 1 s and talks 6 s, 102 is busy, 103 never answers, 104 answers after 2 s and talks 6 s.</summary>
    public IDictionary<string, PartyBehaviour> Phones { get; init; } = new Dictionary<string, PartyBehaviour>(StringComparer.Ordinal)
    {
        ["101"] = PartyBehaviour.Answers(1, 6),
        ["102"] = PartyBehaviour.Busy(),
        ["103"] = PartyBehaviour.NeverAnswers(),
        ["104"] = PartyBehaviour.Answers(2, 6),
    };

    /// <summary>Outside numbers with a particular behaviour (the lab's pstn context); anyone else behaves as <see cref="DefaultCustomer"/>.</summary>
    public IDictionary<string, PartyBehaviour> Customers { get; init; } = new Dictionary<string, PartyBehaviour>(StringComparer.Ordinal)
    {
        ["+14155550486"] = PartyBehaviour.Busy(),
        ["+14155550480"] = PartyBehaviour.NeverAnswers(),
        ["+14155550404"] = PartyBehaviour.Congestion(),
    };

    /// <summary>Any other outside number: rings 1 s, answers, talks 3 s, hangs up (the lab's <c>_+X.</c> in pstn).</summary>
    public PartyBehaviour DefaultCustomer { get; set; } = PartyBehaviour.Answers(1, 3, tone: "440");

    /// <summary>How many seconds particular inbound callers stay on the line before giving up (the lab's callers context: +79160000008 gives up after 8 s); others stay <see cref="CallerPatience"/>.</summary>
    public IDictionary<string, int> CallerGivesUpAfter { get; init; } = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["+79160000008"] = 8,
    };

    /// <summary>How long any other inbound caller stays on the line (seconds; the lab's <c>Wait(40)</c>).</summary>
    public int CallerPatience { get; set; } = 40;

    /// <summary>How long a desk phone that dials out stays off-hook (seconds; the lab's deskphone <c>Wait(30)</c>).</summary>
    public int DeskPhoneOffHook { get; set; } = 30;

    /// <summary>How long an outbound Dial rings the customer (seconds; the lab's <c>Dial(Local/${EXTEN}@pstn,10)</c>).</summary>
    public int OutboundDialTimeout { get; set; } = 10;

    /// <summary>Inbound DIDs and where they go (the lab's from-trunk context).</summary>
    public IDictionary<string, DidRoute> Dids { get; init; } = new Dictionary<string, DidRoute>(StringComparer.Ordinal)
    {
        ["74951234567"] = DidRoute.RingGroup(["101", "104"], 20, record: true),
        ["74951230000"] = DidRoute.RingGroup(["103", "102"], 15, record: false),
        ["74951230001"] = DidRoute.ToQueue("sales", record: true),
        ["74951230003"] = DidRoute.ToQueue("support", record: false),
        ["74951230002"] = DidRoute.Extension("101", 20),
    };

    /// <summary>Queues (ringall; the lab's queues.conf).</summary>
    public IDictionary<string, QueueSettings> Queues { get; init; } = new Dictionary<string, QueueSettings>(StringComparer.Ordinal)
    {
        ["sales"] = new() { Members = ["101", "104"], MemberTimeout = 15, Retry = 1, MaxWait = 30 },
        ["support"] = new() { Members = ["103"], MemberTimeout = 15, Retry = 1, MaxWait = 30 },
    };
}

/// <summary>How phones are reached.</summary>
public enum PhoneTechnology
{
    /// <summary><c>Local/&lt;ext&gt;@phones</c>: two channels (;1 and ;2) per phone leg, the lab's set-up.</summary>
    Local,

    /// <summary><c>PJSIP/&lt;ext&gt;-%08x</c>: one channel per phone leg, as chan_pjsip names it.</summary>
    Pjsip,
}

/// <summary>What a party does when rung.</summary>
public enum PartyKind
{
    /// <summary>Rings, answers, talks, hangs up.</summary>
    Answers,

    /// <summary><c>Busy()</c>: cause 17.</summary>
    Busy,

    /// <summary>Rings and never answers (<c>Wait(60)</c>, then <c>Hangup(19)</c>).</summary>
    NeverAnswers,

    /// <summary><c>Congestion()</c>: cause 34.</summary>
    Congestion,
}

/// <summary>A phone's or a customer's behaviour.</summary>
public sealed record PartyBehaviour
{
    /// <summary>What it does.</summary>
    public PartyKind Kind { get; init; }

    /// <summary>Seconds of ringing before it answers.</summary>
    public int RingSeconds { get; init; }

    /// <summary>Seconds it talks once answered, then hangs up.</summary>
    public int TalkSeconds { get; init; }

    /// <summary>The tone it plays once answered (<c>Playtones</c>), so recordings have content; phones 880, customers 440.</summary>
    public string Tone { get; init; } = "880";

    /// <summary>Answers after <paramref name="ringSeconds"/>, talks <paramref name="talkSeconds"/>.</summary>
    public static PartyBehaviour Answers(int ringSeconds, int talkSeconds, string tone = "880") => new() { Kind = PartyKind.Answers, RingSeconds = ringSeconds, TalkSeconds = talkSeconds, Tone = tone };

    /// <summary>Busy.</summary>
    public static PartyBehaviour Busy() => new() { Kind = PartyKind.Busy };

    /// <summary>Rings for ever (60 s).</summary>
    public static PartyBehaviour NeverAnswers() => new() { Kind = PartyKind.NeverAnswers, RingSeconds = 60 };

    /// <summary>Congestion.</summary>
    public static PartyBehaviour Congestion() => new() { Kind = PartyKind.Congestion };
}

/// <summary>Where an inbound DID goes.</summary>
public sealed record DidRoute
{
    /// <summary>The extensions rung together (a ring group, or one extension).</summary>
    public IList<string> Extensions { get; init; } = [];

    /// <summary>A queue name instead of extensions.</summary>
    public string? Queue { get; init; }

    /// <summary>Dial timeout in seconds.</summary>
    public int Timeout { get; init; } = 20;

    /// <summary>Whether the route starts MixMonitor (<c>in-${UNIQUEID}.wav</c>, <c>q-${UNIQUEID}.wav</c> for a queue).</summary>
    public bool Record { get; init; }

    /// <summary>Whether the dial allows transfers (<c>Dial(…,tT)</c>).</summary>
    public bool AllowTransfer { get; init; }

    /// <summary>A ring group.</summary>
    public static DidRoute RingGroup(IList<string> extensions, int timeout, bool record) => new() { Extensions = extensions, Timeout = timeout, Record = record };

    /// <summary>A queue.</summary>
    public static DidRoute ToQueue(string queue, bool record) => new() { Queue = queue, Record = record };

    /// <summary>One extension (transfers allowed).</summary>
    public static DidRoute Extension(string extension, int timeout) => new() { Extensions = [extension], Timeout = timeout, AllowTransfer = true };
}

/// <summary>A ringall queue (queues.conf).</summary>
public sealed record QueueSettings
{
    /// <summary>Member extensions.</summary>
    public IList<string> Members { get; init; } = [];

    /// <summary>How long members ring per attempt (<c>timeout</c>).</summary>
    public int MemberTimeout { get; init; } = 15;

    /// <summary>Pause between attempts (<c>retry</c>).</summary>
    public int Retry { get; init; } = 1;

    /// <summary>How long a caller waits in the queue at most (the Queue() timeout argument).</summary>
    public int MaxWait { get; init; } = 30;
}
