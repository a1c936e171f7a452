using System.Text;
using System.Text.RegularExpressions;
using Switchboard.Asterisk.Wire;

namespace Switchboard.AsteriskEmulator.Tests.Support;

/// <summary>
/// Reads the AMI transcripts of a real Asterisk 22.10.1 (tests/Fixtures/asterisk) and reduces event
/// sequences to a comparable form: channel suffixes and Uniqueids become ordinals by first appearance
/// (so Linkedid sharing still shows), recording paths keep only their file name pattern, and timings
/// are dropped. What remains is what a connector relies on.
/// </summary>
public static partial class Transcript
{
    /// <summary>Events that depend on the lab's other configuration (device states of a queue's members), not on the call.</summary>
    private static readonly HashSet<string> Ignored = ["DeviceStateChange", "QueueMemberStatus", "FullyBooted", "SuccessfulAuth"];

    private static readonly string[] Keys =
    [
        "Channel", "ChannelState", "CallerIDNum", "ConnectedLineNum", "Context", "Exten", "Priority", "Uniqueid", "Linkedid",
        "DestChannel", "DestChannelState", "DestCallerIDNum", "DestConnectedLineNum", "DestContext", "DestExten", "DestUniqueid", "DestLinkedid",
        "LocalOneChannel", "LocalTwoChannel", "Application", "AppData", "Variable", "Value", "DialStatus", "DialString", "Cause",
        "Response", "Reason",
    ];

    public static IReadOnlyList<AmiMessage> Load(string name)
    {
        var text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", name), Encoding.UTF8).Replace("\r", "", StringComparison.Ordinal);
        var messages = new List<AmiMessage>();
        foreach (var block in text.Split("\n\n"))
        {
            var fields = new List<KeyValuePair<string, string>>();
            foreach (var line in block.Split('\n'))
            {
                if (line.StartsWith("####", StringComparison.Ordinal) || line.StartsWith("Asterisk Call Manager", StringComparison.Ordinal))
                {
                    continue;
                }

                var colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon > 0)
                {
                    fields.Add(new(line[..colon], line[(colon + 1)..].TrimStart(' ')));
                }
            }

            if (fields.Count > 0)
            {
                messages.Add(new AmiMessage(fields));
            }
        }

        return messages;
    }

    /// <summary>The call's events as normalized lines, in order.</summary>
    public static List<string> Normalize(IEnumerable<AmiMessage> messages)
    {
        var ids = new Dictionary<string, string>(StringComparer.Ordinal);
        var suffixes = new Dictionary<string, string>(StringComparer.Ordinal);
        var lines = new List<string>();
        foreach (var m in messages)
        {
            if (m.EventName is not { } name || Ignored.Contains(name) || name == "Cdr")
            {
                continue;
            }

            var sb = new StringBuilder(name);
            foreach (var key in Keys)
            {
                if (m[key] is not { } value)
                {
                    continue;
                }

                if (key == "DestChannelState" && name == "DialBegin")
                {
                    // app_dial publishes DialBegin from its own thread: the callee may already ring (a race).
                    continue;
                }

                if (key == "Value" && m["Variable"] is { } v && v.Contains("TIME", StringComparison.Ordinal))
                {
                    value = value.Length == 0 ? "" : "<t>";
                }

                sb.Append(' ').Append(key).Append('=').Append(NormalizeValue(value, ids, suffixes));
            }

            lines.Add(sb.ToString());
        }

        return lines;
    }

    /// <summary>The Cdr events as normalized lines (Channel, DestinationChannel, Disposition, Destination), sorted: their order is a race between threads.</summary>
    public static List<string> Cdrs(IEnumerable<AmiMessage> messages, IReadOnlyList<string> normalizedForIds)
    {
        _ = normalizedForIds;
        var suffixes = new Dictionary<string, string>(StringComparer.Ordinal);
        var ids = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var m in messages.Where(m => m.EventName == "Newchannel"))
        {
            NormalizeValue(m["Channel"]!, ids, suffixes);
        }

        return [.. messages.Where(m => m.EventName == "Cdr")
            .Select(m => $"Cdr {NormalizeValue(m["Channel"] ?? "", ids, suffixes)} -> {NormalizeValue(m["DestinationChannel"] ?? "", ids, suffixes)} {m["Disposition"]} {m["DestinationContext"]}/{m["Destination"]} src={m["Source"]}")
            .Order(StringComparer.Ordinal)];
    }

    private static string NormalizeValue(string value, Dictionary<string, string> ids, Dictionary<string, string> suffixes)
    {
        value = SuffixPattern().Replace(value, m => "-#" + Ordinal(suffixes, m.Groups[1].Value));
        value = UniqueidPattern().Replace(value, m => "U" + Ordinal(ids, m.Value));
        var slash = value.LastIndexOf('/');
        if (value.EndsWith(".wav", StringComparison.Ordinal) && slash >= 0)
        {
            value = "<rec>/" + value[(slash + 1)..];
        }

        return value;
    }

    private static string Ordinal(Dictionary<string, string> map, string key)
    {
        if (!map.TryGetValue(key, out var n))
        {
            n = map.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
            map[key] = n;
        }

        return n;
    }

    /// <summary>
    /// Splits the lines per channel (Channel, else DestChannel, else LocalOneChannel; bridges apart): the
    /// order inside one channel's story is Asterisk's logic; the interleaving between channels is a race
    /// between threads that differs from run to run.
    /// </summary>
    public static Dictionary<string, List<string>> PerChannel(IEnumerable<string> lines)
    {
        var result = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var line in lines)
        {
            // OriginateResponse races the dialplan's first step (inbound-missed.ami against the others):
            // it is checked among the milestones instead.
            var owner = line.StartsWith("OriginateResponse", StringComparison.Ordinal) ? "(originate)" : Field(line, "Channel") ?? Field(line, "DestChannel") ?? Field(line, "LocalOneChannel") ?? "(bridge)";
            if (!result.TryGetValue(owner, out var list))
            {
                result[owner] = list = [];
            }

            list.Add(line);
        }

        return result;
    }

    public static string? Field(string line, string key)
    {
        var m = Regex.Match(line, $@"(?:^| ){key}=(\S*)");
        return m.Success ? m.Groups[1].Value : null;
    }

    [GeneratedRegex("-([0-9a-f]{8})(?=;|$|,|&)")]
    private static partial Regex SuffixPattern();

    [GeneratedRegex(@"(?<![\w.])\d{9,}\.\d+")]
    private static partial Regex UniqueidPattern();
}
