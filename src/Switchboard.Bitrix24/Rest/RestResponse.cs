using System.Text.Json;

namespace Switchboard.Bitrix24.Rest;

/// <summary>The success envelope <c>{"result": …, "total": n, "next": n, "time": {…}}</c>
/// (EN-docs api-reference/data-types.md#time, list-methods-pecularities.md).</summary>
/// <param name="Result">The <c>result</c> value (a detached clone, safe to keep).</param>
/// <param name="Total">The <c>total</c> of a list method.</param>
/// <param name="Next">The <c>next</c> start offset of a list method; null on the last page.</param>
/// <param name="Time">The <c>time</c> block, when sent.</param>
public sealed record RestResponse(JsonElement Result, long? Total, long? Next, RestTime? Time)
{
    /// <summary>Deserialises <see cref="Result"/> to <typeparamref name="T"/> with System.Text.Json.</summary>
    public T? ResultAs<T>(JsonSerializerOptions? options = null) => Result.Deserialize<T>(options);
}

/// <summary>The <c>time</c> block. Every field is optional: the set varies by method and version, and
/// recent telephony examples send integers where older ones send doubles (REFERENCE §4.2).</summary>
public sealed record RestTime
{
    /// <summary><c>start</c>, Unix seconds.</summary>
    public double? Start { get; init; }
    /// <summary><c>finish</c>, Unix seconds.</summary>
    public double? Finish { get; init; }
    /// <summary><c>duration</c>, seconds.</summary>
    public double? Duration { get; init; }
    /// <summary><c>processing</c>, seconds.</summary>
    public double? Processing { get; init; }
    /// <summary><c>date_start</c>, ISO-8601 with offset.</summary>
    public DateTimeOffset? DateStart { get; init; }
    /// <summary><c>date_finish</c>, ISO-8601 with offset.</summary>
    public DateTimeOffset? DateFinish { get; init; }
    /// <summary><c>operating</c>: seconds this method ran over the last 10 minutes.</summary>
    public double? Operating { get; init; }
    /// <summary><c>operating_reset_at</c>: when the oldest minute-bucket of the operating budget drops out.</summary>
    public DateTimeOffset? OperatingResetAt { get; init; }

    internal static RestTime? Read(JsonElement envelope)
    {
        if (envelope.ValueKind != JsonValueKind.Object
            || !envelope.TryGetProperty("time", out var t) || t.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        return new RestTime
        {
            Start = JsonRead.Double(t, "start"),
            Finish = JsonRead.Double(t, "finish"),
            Duration = JsonRead.Double(t, "duration"),
            Processing = JsonRead.Double(t, "processing"),
            DateStart = JsonRead.Date(t, "date_start"),
            DateFinish = JsonRead.Date(t, "date_finish"),
            Operating = JsonRead.Double(t, "operating"),
            OperatingResetAt = JsonRead.Double(t, "operating_reset_at") is { } r
                ? DateTimeOffset.FromUnixTimeMilliseconds((long)(r * 1000))
                : null,
        };
    }
}
