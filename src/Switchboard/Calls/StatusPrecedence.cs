using Switchboard.Bitrix24.Events;

namespace Switchboard.Calls;

/// <summary>
/// Which of two reported outcomes of the same call wins. A call can report several (an IVR leg, queue
/// members, a transfer, a manual finish); Bitrix24 keeps only the one we finish with.
/// </summary>
/// <remarks>
/// FIELD-LESSONS item 5: answered calls shown as missed because an IVR or queue leg's "not answered"
/// came after the answered one. So the order of arrival never matters; the code does:
/// <list type="number">
/// <item>200 (answered) beats everything: once anyone talked, the call was answered.</item>
/// <item>A definite failure from the far end (486 busy, 603 declined, 404, 484, 503, 480, 402, 423, 403).</item>
/// <item>603-S (cancelled): what a caller hanging up in the IVR, or a cancelled outgoing leg, reports.</item>
/// <item>304 (missed): what every unanswered queue/ring-group leg reports.</item>
/// <item>OTHER, then codes Bitrix24 does not document.</item>
/// </list>
/// Ties on the rank go to the longer duration, then to the ordinal order of the code and of the reason, so the choice is
/// a total order and merging is commutative, associative and idempotent.
/// </remarks>
public static class StatusPrecedence
{
    /// <summary>The rank of a code; higher wins.</summary>
    public static int Rank(CallStatusCode status) => status.Code switch
    {
        "200" => 5,
        "486" or "603" or "404" or "484" or "503" or "480" or "402" or "423" or "403" => 4,
        "603-S" => 3,
        "304" => 2,
        "OTHER" => 1,
        _ => 0,
    };

    /// <summary>The winner of two outcomes; either may be null.</summary>
    public static CallOutcome? Better(CallOutcome? a, CallOutcome? b)
    {
        if (a is null || b is null)
        {
            return a ?? b;
        }

        var byRank = Rank(a.Status).CompareTo(Rank(b.Status));
        if (byRank != 0)
        {
            return byRank > 0 ? a : b;
        }

        var byDuration = a.Duration.CompareTo(b.Duration);
        if (byDuration != 0)
        {
            return byDuration > 0 ? a : b;
        }

        var byCode = string.CompareOrdinal(a.Status.Code, b.Status.Code);
        if (byCode != 0)
        {
            return byCode > 0 ? a : b;
        }

        // The same outcome with and without its reason: the one that says why.
        return string.CompareOrdinal(a.Reason, b.Reason) >= 0 ? a : b;
    }
}
