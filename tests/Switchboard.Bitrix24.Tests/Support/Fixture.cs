using System.Text;
using System.Text.Json;
using Switchboard.Bitrix24.Wire;

namespace Switchboard.Bitrix24.Tests.Support;

/// <summary>The PHP-made bodies in Fixtures/ (see Fixtures/README.md).</summary>
internal static class Fixture
{
    /// <summary>Every fixture make-fixtures.php writes; a test checks the folder holds exactly these.</summary>
    public static readonly string[] Names =
    [
        "onexternalcallstart.seed",
        "onvoximplantcallstart.seed",
        "onexternalcallbackstart",
        "onvoximplantcallinit",
        "onvoximplantcallend.cancelled",
        "onvoximplantcallend.other",
        "onappinstall",
        "onappupdate",
        "onappuninstall",
        "onofflineevent",
        "oncrmdealupdate",
        "odd.plus-and-spaces",
        "odd.empty-values",
        "odd.no-tokens",
        "odd.indexed-array",
        "odd.amp-and-equals",
        "odd.special-chars",
        "odd.scalars",
        "raw.append",
        "raw.append-after-index",
        "raw.append-groups",
    ];

    public static string Folder => Path.Combine(AppContext.BaseDirectory, "Fixtures");

    public static TheoryData<string> All() => new(Names);

    /// <summary>The fixtures that http_build_query built (not the hand-written raw.* bodies).</summary>
    public static TheoryData<string> Built() => new(Names.Where(n => !n.StartsWith("raw.", StringComparison.Ordinal)));

    public static byte[] Bytes(string name) => File.ReadAllBytes(Path.Combine(Folder, name + ".form"));

    public static string Body(string name) => Encoding.UTF8.GetString(Bytes(name));

    public static string ParseStrJson(string name) => File.ReadAllText(Path.Combine(Folder, name + ".parse_str.json"));

    /// <summary>Parses a fixture and fails the test if it does not parse.</summary>
    public static FormNode Parse(string name)
    {
        var result = PhpFormParser.Parse(Bytes(name));
        result.Success.Should().BeTrue(because: $"{name} was built by PHP and must parse ({result.Detail})");
        return result.Root!;
    }

    /// <summary>
    /// PHP's parse_str() result for a fixture, flattened the same way as <see cref="Tree.Flatten"/>.
    /// Read with System.Text.Json directly, not with the library's JSON parser, so the two sides are independent.
    /// </summary>
    public static IReadOnlyList<string> ParseStrFlattened(string name)
    {
        using var doc = JsonDocument.Parse(ParseStrJson(name));
        var lines = new List<string>();
        Walk(doc.RootElement, null, lines);
        return lines;

        static void Walk(JsonElement element, string? path, List<string> lines)
        {
            if (element.ValueKind == JsonValueKind.Object)
            {
                if (path is not null && !element.EnumerateObject().Any())
                {
                    lines.Add($"{path} = {{}}");
                }

                foreach (var property in element.EnumerateObject())
                {
                    Walk(property.Value, path is null ? property.Name : $"{path}[{property.Name}]", lines);
                }

                return;
            }

            element.ValueKind.Should().Be(JsonValueKind.String, because: "parse_str only ever produces strings and arrays");
            lines.Add($"{path} = {Tree.Quote(element.GetString()!)}");
        }
    }
}
