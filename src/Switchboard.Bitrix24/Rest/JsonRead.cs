using System.Globalization;
using System.Text.Json;

namespace Switchboard.Bitrix24.Rest;

/// <summary>Tolerant readers: Bitrix24 sends numbers as numbers or as strings, and absent values as
/// null, "", [] or {} depending on the method. Each returns null when the value does not fit.</summary>
internal static class JsonRead
{
    public static JsonElement? Prop(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) ? v : null;

    public static string? String(JsonElement obj, string name) => Prop(obj, name) is { } v ? AsString(v) : null;

    public static string? AsString(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => v.GetString(),
        JsonValueKind.Number => v.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => null,
    };

    public static long? Long(JsonElement obj, string name) => Prop(obj, name) is { } v ? AsLong(v) : null;

    public static long? AsLong(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Number when v.TryGetInt64(out var n) => n,
        JsonValueKind.String when long.TryParse(v.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) => n,
        _ => null,
    };

    public static double? Double(JsonElement obj, string name) => Prop(obj, name) is { } v ? v.ValueKind switch
    {
        JsonValueKind.Number => v.GetDouble(),
        JsonValueKind.String when double.TryParse(v.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
        _ => null,
    } : null;

    public static DateTimeOffset? Date(JsonElement obj, string name) =>
        String(obj, name) is { Length: > 0 } s
        && DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.None, out var d) ? d : null;

    /// <summary>Y/N, 1/0, true/false.</summary>
    public static bool? Bool(JsonElement obj, string name) => Prop(obj, name) is { } v ? v.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Number => v.TryGetInt64(out var n) ? n != 0 : null,
        JsonValueKind.String => v.GetString() switch
        {
            "Y" or "y" or "1" or "true" => true,
            "N" or "n" or "0" or "false" or "" => false,
            _ => null,
        },
        _ => null,
    } : null;

    /// <summary>The object's members; an empty array (PHP's empty array) reads as no members.</summary>
    public static IEnumerable<JsonProperty> Members(JsonElement? v) =>
        v is { ValueKind: JsonValueKind.Object } o ? o.EnumerateObject() : [];

    /// <summary>The array's items; a PHP list serialised as an object with keys 0,1,… reads as its values.</summary>
    public static IEnumerable<JsonElement> Items(JsonElement? v) => v switch
    {
        { ValueKind: JsonValueKind.Array } a => a.EnumerateArray(),
        { ValueKind: JsonValueKind.Object } o => o.EnumerateObject().Select(p => p.Value),
        _ => [],
    };
}
