using System.Buffers;
using System.Text;
using Switchboard.Asterisk.Wire;

namespace Switchboard.Asterisk.Tests.Wire;

public sealed class AmiMessageTests
{
    private static AmiMessage Of(params (string Key, string Value)[] fields) =>
        new(fields.Select(f => new KeyValuePair<string, string>(f.Key, f.Value)));

    [Fact]
    public void WriteTo_writes_each_field_as_Key_colon_space_Value_CRLF_then_a_blank_line()
    {
        var message = Of(("Action", "Originate"), ("ActionID", "7"), ("Variable", "A=1"), ("Variable", "B=2"), ("Async", "true"));
        var output = new ArrayBufferWriter<byte>();

        message.WriteTo(output);

        Encoding.UTF8.GetString(output.WrittenSpan).Should().Be(
            "Action: Originate\r\nActionID: 7\r\nVariable: A=1\r\nVariable: B=2\r\nAsync: true\r\n\r\n");
    }

    [Fact]
    public void WriteTo_writes_UTF_8()
    {
        var output = new ArrayBufferWriter<byte>();

        Of(("CallerID", "\"Анна\" <101>")).WriteTo(output);

        output.WrittenSpan.ToArray().Should().Equal(Encoding.UTF8.GetBytes("CallerID: \"Анна\" <101>\r\n\r\n"));
    }

    [Fact]
    public void ToString_masks_Secret_and_Key()
    {
        var text = Of(("Action", "Login"), ("Username", "sb"), ("secret", "hunter2"), ("Key", "0123abcd")).ToString();

        text.Should().Contain("Username: sb").And.Contain("secret: ***").And.Contain("Key: ***");
        text.Should().NotContain("hunter2").And.NotContain("0123abcd");
    }

    [Theory]
    [InlineData("Variable", "A=1\r\nAction: Hangup")]
    [InlineData("Variable", "A=1\nB")]
    [InlineData("Bad:Key", "x")]
    [InlineData("", "x")]
    public void A_field_that_would_break_the_line_framing_is_refused(string key, string value)
    {
        FluentActions.Invoking(() => Of(("Action", "Setvar"), (key, value))).Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Names_come_from_Event_Response_and_ActionID_in_any_case()
    {
        var message = Of(("response", "Success"), ("actionid", "3"));

        message.Response.Should().Be("Success");
        message.ActionId.Should().Be("3");
        message.EventName.Should().BeNull();
        message[1].Should().Be(new KeyValuePair<string, string>("actionid", "3"));
    }
}
