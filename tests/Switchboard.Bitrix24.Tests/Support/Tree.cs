using System.Text;
using Switchboard.Bitrix24.Wire;

namespace Switchboard.Bitrix24.Tests.Support;

/// <summary>Readable, order-preserving views of a <see cref="FormNode"/> tree for assertions.</summary>
internal static class Tree
{
    /// <summary>One line per value, in order: <c>data[CALL_ID] = "…"</c>; an empty group shows as <c>= {}</c>.</summary>
    public static IReadOnlyList<string> Flatten(FormNode root)
    {
        var lines = new List<string>();
        foreach (var (key, child) in root.Children)
        {
            Walk(child, key, lines);
        }

        return lines;

        static void Walk(FormNode node, string path, List<string> lines)
        {
            if (node.IsValue)
            {
                lines.Add($"{path} = {Quote(node.Value)}");
                return;
            }

            if (node.Children.Count == 0)
            {
                lines.Add($"{path} = {{}}");
            }

            foreach (var (key, child) in node.Children)
            {
                Walk(child, $"{path}[{key}]", lines);
            }
        }
    }

    /// <summary>A value in quotes with control characters escaped, so a diff shows them.</summary>
    public static string Quote(string value)
    {
        var sb = new StringBuilder("\"");
        foreach (var c in value)
        {
            sb.Append(c switch
            {
                '\t' => "\\t",
                '\r' => "\\r",
                '\n' => "\\n",
                '"' => "\\\"",
                '\\' => "\\\\",
                _ => c.ToString(),
            });
        }

        return sb.Append('"').ToString();
    }
}
