namespace Switchboard.AsteriskEmulator;

/// <summary>
/// How one party behaves, as the lab's dialplan plays it on the far (;2) half of its Local channel:
/// <c>Ringing()</c>, <c>Wait(ring)</c>, <c>Answer()</c>, <c>Playtones(tone)</c>, <c>Wait(talk)</c>, <c>Hangup(16)</c>
/// (phones, customers), <c>Answer()</c> at once (desk phones, inbound callers), <c>Busy(2)</c>, <c>Congestion(2)</c>.
/// </summary>
internal sealed record LegPlan(PartyKind Kind, bool RingsFirst, int Ring, int Talk, string? Tone)
{
    public static LegPlan From(PartyBehaviour b) => new(b.Kind, true, b.RingSeconds, b.TalkSeconds, b.Tone);

    /// <summary>Answers at once (a desk phone off-hook, an inbound caller's line): no Ringing, no tone unless given.</summary>
    public static LegPlan AtOnce(int talk, string? tone) => new(PartyKind.Answers, false, 0, talk, tone);
}

/// <summary>The role of a leg, which decides its name and behaviour.</summary>
internal enum LegRole
{
    Phone,
    Customer,
    Caller,
    Desk,
}

/// <summary>
/// One party of a call: the channel the dialling side sees (<see cref="Outer"/>: a Local <c>;1</c> or a
/// PJSIP channel) and, for a Local channel, the <c>;2</c> half that runs the party's own dialplan.
/// </summary>
internal sealed class Leg
{
    public required Channel Outer { get; init; }

    public Channel? Inner { get; init; }

    public required LegPlan Plan { get; init; }

    /// <summary>What Dial was given for it (<c>101@phones</c>, <c>101</c>).</summary>
    public required string DialString { get; init; }

    /// <summary>The queue member interface (<c>Local/101@phones/n</c>, <c>PJSIP/101</c>).</summary>
    public required string Interface { get; init; }

    public required LegRole Role { get; init; }

    public DateTimeOffset RingStart { get; set; }

    public DateTimeOffset? AnsweredAt { get; set; }

    /// <summary>Set once the leg left the ring phase without answering (BUSY, CANCEL, NOANSWER…).</summary>
    public string? Status { get; set; }

    public int InnerPriority { get; set; }

    /// <summary>A desk phone's answer: DialEnd and the ;2 Newstate come after OriginateResponse (desk-outbound.ami).</summary>
    public bool AnswerPending { get; set; }

    public bool IsRinging => Status is null && AnsweredAt is null;

    /// <summary>When the party hangs up by itself (emulated time), or null if it never does.</summary>
    public DateTimeOffset? EndsAt => Plan.Kind switch
    {
        PartyKind.Answers when AnsweredAt is { } a => a.AddSeconds(Plan.Talk),
        PartyKind.Answers => RingStart.AddSeconds(Plan.Ring),
        PartyKind.NeverAnswers => RingStart.AddSeconds(Plan.Ring),
        _ => null,
    };

    public IEnumerable<Channel> All => Inner is null ? [Outer] : [Outer, Inner];
}
