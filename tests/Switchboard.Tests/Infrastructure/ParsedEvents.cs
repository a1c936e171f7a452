using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Wire;

namespace Switchboard.Tests.Infrastructure;

/// <summary>Typed events read from bodies built like Bitrix24's, by the real parser and reader.</summary>
public static class ParsedEvents
{
    public static Bitrix24Event Read(string body)
    {
        var parsed = PhpFormParser.Parse(body);
        parsed.Success.Should().BeTrue();
        var read = Bitrix24EventReader.Read(parsed.Root!);
        read.Event.Should().NotBeNull(read.Error);
        return read.Event!;
    }
}
