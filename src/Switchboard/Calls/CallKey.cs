namespace Switchboard.Calls;

/// <summary>
/// The ledger's storage key for a CALL_ID: the call's registration time first, so that new calls are
/// written at the end of the ledger's B-tree instead of at random places in it.
/// </summary>
/// <remarks>
/// <para>Bitrix24's CALL_IDs end with the time the call was registered:
/// <c>externalCall.&lt;md5&gt;.&lt;unixts&gt;</c> (REFERENCE.md §5, ONEXTERNALCALLSTART; §6.1 shows
/// <c>"CALL_ID": "externalCall.716f...c568.1773130779"</c>). Keyed by the CALL_ID itself, every new
/// call lands on a random page of the index; a fold of a thousand new calls then rewrites nearly a
/// thousand 4 KiB pages (measured: 9 KiB of WAL per event, copied again at checkpoint, most of the
/// ledger's cost under load). Keyed by time first, new calls fill the last pages, as the journal's do.</para>
/// <para>The key is the trailing number zero-padded to <see cref="StampWidth"/> digits (or blanks when
/// the CALL_ID has no numeric tail, which sort first), then the CALL_ID unchanged. The prefix has a fixed
/// width and is a function of the CALL_ID, so two keys are equal exactly when their CALL_IDs are, and
/// <see cref="CallIdOf"/> gives the CALL_ID back.</para>
/// </remarks>
public static class CallKey
{
    /// <summary>Width of the time prefix: a Unix time in seconds has 10 digits until the year 2286.</summary>
    public const int StampWidth = 12;

    /// <summary>The storage key of <paramref name="callId"/>.</summary>
    public static string Of(string callId)
    {
        ArgumentNullException.ThrowIfNull(callId);
        var dot = callId.LastIndexOf('.');
        var tail = dot < 0 ? ReadOnlySpan<char>.Empty : callId.AsSpan(dot + 1);
        var stamped = tail.Length is > 0 and <= StampWidth && tail.IndexOfAnyExceptInRange('0', '9') < 0;
        return string.Create(StampWidth + callId.Length, (callId, dot, stamped), static (span, s) =>
        {
            if (s.stamped)
            {
                var digits = s.callId.AsSpan(s.dot + 1);
                span[..(StampWidth - digits.Length)].Fill('0');
                digits.CopyTo(span[(StampWidth - digits.Length)..StampWidth]);
            }
            else
            {
                span[..StampWidth].Fill(' ');
            }

            s.callId.AsSpan().CopyTo(span[StampWidth..]);
        });
    }

    /// <summary>The CALL_ID a key was made from.</summary>
    public static string CallIdOf(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key.Length < StampWidth ? throw new ArgumentException("Not a call key.", nameof(key)) : key[StampWidth..];
    }
}
