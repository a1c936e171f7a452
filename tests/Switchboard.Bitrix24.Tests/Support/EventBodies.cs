using System.Reflection;
using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Wire;

namespace Switchboard.Bitrix24.Tests.Support;

internal static class EventBodies
{
    /// <summary>Parses a fixture and reads it as an event; fails the test if either step fails.</summary>
    public static Bitrix24Event ReadFixture(string name) => Read(Fixture.Parse(name));

    /// <summary>Encodes fields with http_build_query, parses the body and reads the event.</summary>
    public static Bitrix24Event ReadFields(List<KeyValuePair<string, object?>> fields) => Read(ParseFields(fields));

    public static FormNode ParseFields(List<KeyValuePair<string, object?>> fields)
    {
        var parsed = PhpFormParser.Parse(HttpBuildQuery.Encode(fields));
        parsed.Success.Should().BeTrue(because: parsed.Detail);
        return parsed.Root!;
    }

    public static Bitrix24Event Read(FormNode root)
    {
        var result = Bitrix24EventReader.Read(root);
        result.Success.Should().BeTrue(because: result.Error);
        return result.Event!;
    }

    /// <summary>
    /// Compares every public property of <paramref name="actual"/> except the raw Data with
    /// <paramref name="expected"/>, and fails if the expectation leaves any property out, so a
    /// property added to an event later cannot go unchecked.
    /// </summary>
    public static void ShouldHave<T>(this T actual, object expected)
        where T : Bitrix24Event
    {
        actual.Should().BeOfType<T>();
        ShouldNameEveryProperty(typeof(T), expected, except: nameof(Bitrix24Event.Data));
        var auth = expected.GetType().GetProperty(nameof(Bitrix24Event.Auth))!.GetValue(expected)!;
        ShouldNameEveryProperty(typeof(EventAuth), auth, except: null);

        actual.Should().BeEquivalentTo(expected, o => o.ComparingRecordsByMembers().WithStrictOrdering().RespectingRuntimeTypes());
    }

    private static void ShouldNameEveryProperty(Type type, object expected, string? except)
    {
        var all = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetIndexParameters().Length == 0 && p.Name != except && p.Name != "EqualityContract")
            .Select(p => p.Name);
        var named = expected.GetType().GetProperties().Select(p => p.Name);

        named.Should().BeEquivalentTo(all, because: $"the expectation for {type.Name} must name every property");
    }
}
