using System.Globalization;
using System.Text.Json.Nodes;
using Switchboard.Bitrix24.Wire;

namespace Switchboard.Emulator;

/// <summary>What one REST method produced: a result (with optional total/next) or an error.</summary>
internal sealed record RestOutcome(int Status, JsonNode? Result, string? Error = null, string? Description = null, long? Total = null, long? Next = null)
{
    public bool IsError => Error is not null;

    public static RestOutcome Ok(JsonNode? result, long? total = null, long? next = null) => new(200, result, Total: total, Next: next);

    public static RestOutcome Fail(int status, string error, string description) => new(status, null, error, description);

    // EN-docs telephony method pages: method-specific errors come as ERROR_CORE with a descriptive text (HTTP 400).
    public static RestOutcome Core(string description) => Fail(400, "ERROR_CORE", description);
}

/// <summary>Reads method parameters from the decoded tree. Keys are matched case-insensitively, as the PHP side upper-cases them.</summary>
internal static class Params
{
    public static FormNode? Node(FormNode p, string key)
    {
        foreach (var (k, v) in p.Children)
        {
            if (string.Equals(k, key, StringComparison.OrdinalIgnoreCase))
            {
                return v;
            }
        }

        return null;
    }

    public static string? Str(FormNode p, string key) => Node(p, key) is { IsValue: true } n ? n.Value : null;

    public static long? Long(FormNode p, string key) =>
        long.TryParse(Str(p, key), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;

    public static bool Flag(FormNode p, string key, bool fallback) => Str(p, key) is { } s ? IsTrue(s) : fallback;

    public static bool IsTrue(string s) =>
        s is "1" or "Y" or "y" || s.Equals("true", StringComparison.OrdinalIgnoreCase);

    /// <summary>A value or a list of values (<c>USER_ID=5</c> or <c>USER_ID[]=5&amp;USER_ID[]=6</c>).</summary>
    public static List<string> List(FormNode p, string key) => Node(p, key) switch
    {
        null => [],
        { IsValue: true } v => v.Value.Length == 0 ? [] : [v.Value],
        var map => map.Children.Where(c => c.Value.IsValue).Select(c => c.Value.Value!).ToList(),
    };

    public static Dictionary<string, string> Flatten(FormNode p)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        Walk(p, null, d);
        return d;

        static void Walk(FormNode n, string? prefix, Dictionary<string, string> d)
        {
            foreach (var (k, v) in n.Children)
            {
                var key = prefix is null ? k : $"{prefix}[{k}]";
                if (v.IsValue)
                {
                    d[key] = v.Value;
                }
                else
                {
                    Walk(v, key, d);
                }
            }
        }
    }
}
