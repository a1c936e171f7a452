using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Switchboard.Bitrix24.Wire;

namespace Switchboard.Bitrix24.Rest;

/// <summary>One command of a <c>batch</c>: sent as <c>"method?http_build_query(params)"</c>
/// (EN-docs settings/how-to-call-rest-api/batch.md: in a JSON body <c>cmd</c> values are plain strings).</summary>
/// <param name="Id">The command's key in <c>cmd</c>; results come back under it.</param>
/// <param name="Method">The REST method, e.g. <c>telephony.externalCall.hide</c>.</param>
/// <param name="Parameters">Its parameters; may reference earlier results as <c>$result[id][FIELD]</c>.</param>
public sealed record BatchCommand(string Id, string Method, JsonObject? Parameters = null)
{
    internal string Encode()
    {
        var query = Parameters is null ? "" : HttpBuildQuery.Encode(Parameters.Select(p => new KeyValuePair<string, object?>(p.Key, Plain(p.Value))));
        return $"{Method}?{query}";
    }

    private static object? Plain(JsonNode? node) => node switch
    {
        null => null,
        JsonObject o => o.Select(p => new KeyValuePair<string, object?>(p.Key, Plain(p.Value))).ToList(),
        JsonArray a => a.Select(Plain).ToList(),
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Number => v.ToJsonString(),
            _ => null,
        },
        _ => node.ToJsonString(),
    };
}

/// <summary>What one command of a batch produced.</summary>
/// <param name="Id">The command id.</param>
/// <param name="Result">Its <c>result</c>, when it succeeded.</param>
/// <param name="Error">Its entry of <c>result_error</c>, when it failed.</param>
/// <param name="Total">Its <c>result_total</c>.</param>
/// <param name="Next">Its <c>result_next</c>.</param>
/// <param name="Time">Its <c>result_time</c>.</param>
public sealed record BatchCommandResult(string Id, JsonElement? Result, RestError? Error, long? Total, long? Next, RestTime? Time)
{
    /// <summary>True when the command has a result and no error.</summary>
    public bool IsSuccess => Error is null && Result is not null;
}

/// <summary>The outcome of a (possibly split) batch.</summary>
/// <param name="Commands">Per command, in the order given; commands never run are absent.</param>
/// <param name="NotRun">Ids of commands never sent: a later request was skipped after <c>halt</c> met an
/// error, or after a whole request failed (<see cref="RequestError"/>).</param>
/// <param name="RequestError">The failure of a whole batch request, if one failed; commands of earlier
/// requests did run.</param>
/// <param name="Requests">HTTP batch requests sent.</param>
public sealed record BatchResult(IReadOnlyDictionary<string, BatchCommandResult> Commands, IReadOnlyList<string> NotRun,
    RestError? RequestError, int Requests)
{
    /// <summary>The <c>batch</c> limit: at most 50 commands per request (EN-docs batch.md).</summary>
    public const int MaxCommandsPerRequest = 50;

    internal static IEnumerable<BatchCommandResult> Read(IReadOnlyList<BatchCommand> sent, JsonElement outer)
    {
        // result: {result: {id: data}, result_error: {id: {error, error_description}}, result_total, result_next,
        // result_time}. Empty parts are PHP's empty array and arrive as [] instead of {}.
        var results = Map(outer, "result");
        var errors = Map(outer, "result_error");
        var totals = Map(outer, "result_total");
        var nexts = Map(outer, "result_next");
        var times = Map(outer, "result_time");
        foreach (var command in sent)
        {
            RestError? error = null;
            if (errors.TryGetValue(command.Id, out var e))
            {
                error = e.ValueKind == JsonValueKind.Object
                    ? RestError.FromCode(JsonRead.String(e, "error") ?? "UNKNOWN", JsonRead.String(e, "error_description"), null)
                    : RestError.FromCode(JsonRead.AsString(e) ?? "UNKNOWN", null, null);
            }

            JsonElement? result = results.TryGetValue(command.Id, out var r) ? r : null;
            if (error is null && result is null)
            {
                continue; // not run (halt stopped before it)
            }

            yield return new BatchCommandResult(command.Id, result, error,
                totals.TryGetValue(command.Id, out var t) ? JsonRead.AsLong(t) : null,
                nexts.TryGetValue(command.Id, out var n) ? JsonRead.AsLong(n) : null,
                times.TryGetValue(command.Id, out var tm) ? RestTime.Read(Wrap(tm)) : null);
        }
    }

    private static Dictionary<string, JsonElement> Map(JsonElement outer, string name)
    {
        var map = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        var part = JsonRead.Prop(outer, name);
        if (part is { ValueKind: JsonValueKind.Object } o)
        {
            foreach (var p in o.EnumerateObject())
            {
                map[p.Name] = p.Value;
            }
        }
        else if (part is { ValueKind: JsonValueKind.Array } a)
        {
            // A PHP list: commands given as a list (ids "0", "1", …), or the empty part [].
            var i = 0;
            foreach (var item in a.EnumerateArray())
            {
                map[(i++).ToString(CultureInfo.InvariantCulture)] = item;
            }
        }

        return map;
    }

    private static JsonElement Wrap(JsonElement time)
    {
        using var doc = JsonDocument.Parse($"{{\"time\":{time.GetRawText()}}}");
        return doc.RootElement.Clone();
    }
}
