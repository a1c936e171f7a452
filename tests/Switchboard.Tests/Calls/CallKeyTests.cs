using Switchboard.Calls;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Calls;

/// <summary>
/// The ledger's key for a CALL_ID: Bitrix24's <c>externalCall.&lt;md5&gt;.&lt;unixts&gt;</c> keys sort by
/// registration time (ordinal order, as SQLite's BINARY collation compares), every CALL_ID comes back
/// out of its key unchanged, and no two CALL_IDs share a key.
/// </summary>
public sealed class CallKeyTests
{
    [Fact]
    public void The_prefix_is_the_numeric_tail_zero_padded_to_twelve_digits_then_the_CALL_ID_follows()
    {
        const string CallId = "externalCall.716fa1d2c568e4b2b11c2f2f0e8d2c56.1773130779";

        var key = CallKey.Of(CallId);

        CallKey.StampWidth.Should().Be(12);
        key.Should().Be("001773130779" + CallId);
        key.Length.Should().Be(12 + CallId.Length);
    }

    [Theory]
    [InlineData("")]
    [InlineData("asterisk-1773239326")]
    [InlineData("externalCall.716fa1d2c568e4b2b11c2f2f0e8d2c56.")]
    [InlineData("externalCall.716fa1d2c568e4b2b11c2f2f0e8d2c56.17731307x9")]
    [InlineData("externalCall.716fa1d2c568e4b2b11c2f2f0e8d2c56.1234567890123")]
    [InlineData("externalCall.716fa1d2c568e4b2b11c2f2f0e8d2c56.-1773130779")]
    [InlineData("externalCall.716fa1d2c568e4b2b11c2f2f0e8d2c56.+1773130779")]
    [InlineData("externalCall.716fa1d2c568e4b2b11c2f2f0e8d2c56. 1773130779")]
    [InlineData("звонок.١٧٧٣١٣٠٧٧٩")] // Arabic-Indic digits are digits to char.IsDigit, not to the key
    [InlineData("звонок.１７７３")] // full-width digits likewise
    public void A_CALL_ID_without_a_tail_of_1_to_12_ASCII_digits_gets_twelve_blanks(string callId)
    {
        CallKey.Of(callId).Should().Be(new string(' ', 12) + callId);
    }

    [Theory]
    [InlineData("a.0", "000000000000")]
    [InlineData("a.7", "000000000007")]
    [InlineData("a.007", "000000000007")]
    [InlineData("1773130779", "            ")] // no dot: no tail
    [InlineData(".1773130779", "001773130779")]
    [InlineData("a.b.999999999999", "999999999999")]
    [InlineData("a.1773130779.x", "            ")] // only the last segment counts
    [InlineData("звонок.1773130779", "001773130779")]
    public void The_prefix_comes_from_the_segment_after_the_last_dot(string callId, string prefix)
    {
        var key = CallKey.Of(callId);

        key[..12].Should().Be(prefix);
        key[12..].Should().Be(callId);
    }

    public static TheoryData<string> Shapes => new()
    {
        "",
        ".",
        "..",
        "a.",
        "a.1",
        "a.01",
        "a.001",
        "a.000000000001",
        "a.0000000000001",
        "1773130779",
        "externalCall.716fa1d2c568e4b2b11c2f2f0e8d2c56.1773130779",
        "externalCall.716fa1d2c568e4b2b11c2f2f0e8d2c56.1773130779.",
        "externalCall.716fa1d2c568e4b2b11c2f2f0e8d2c56.177313077x",
        "externalCall.716fa1d2c568e4b2b11c2f2f0e8d2c56.12345678901234567890",
        "externalCall.716fa1d2c568e4b2b11c2f2f0e8d2c56.999999999999",
        "Звонок.Тест.1773130779",
        "звонок-без-хвоста",
        "emoji.😀.42",
        "tab\tand\nnewline.5",
        "            .12",
        "000000000001a.1",
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void CallIdOf_gives_back_the_CALL_ID_the_key_was_made_of(string callId)
    {
        var key = CallKey.Of(callId);

        CallKey.CallIdOf(key).Should().Be(callId);
        key.Length.Should().Be(CallKey.StampWidth + callId.Length, "the prefix is always exactly 12 characters");
    }

    [Fact]
    public void No_two_CALL_IDs_share_a_key()
    {
        string[] tricky =
        [
            "a.1", "a.01", "a.001", "a.000000000001", "a.0000000000001", "a.1.", "a.1 ", " a.1", "a", "a.", "a..1",
            "000000000001a.1", "            a", "a.x", "1", ".1", "", " ", "a.999999999999", "a.1000000000000",
            "b.1", "externalCall.716f.1773130779", "externalCall.716f.01773130779", "externalCall.716f",
        ];
        var withoutTail = tricky.Where(id => CallKey.Of(id).StartsWith(new string(' ', 12), StringComparison.Ordinal)).ToList();
        var withTail = tricky.Except(withoutTail).ToList();

        tricky.Select(CallKey.Of).Should().OnlyHaveUniqueItems();
        CallKey.Of("a.1").Should().NotBe(CallKey.Of("a.01")).And.NotBe(CallKey.Of("a.001"));
        withoutTail.Should().NotBeEmpty().And.Contain("a.x");
        withTail.Should().NotBeEmpty().And.Contain("a.1");
        withoutTail.Select(CallKey.Of).Should().NotIntersectWith(withTail.Select(CallKey.Of),
            "a CALL_ID without a numeric tail never gets the key of one with");
    }

    [Fact]
    public void Keys_of_Bitrix24_CALL_IDs_sort_by_registration_time_whatever_the_hash()
    {
        // Some times with fewer digits than others: as text, "999999999" sorts after "1773130779".
        long[] times = [5, 999_999_999, 1_000_000_000, 1_773_130_779, 1_773_130_780, 1_773_236_988, 9_999_999_999, 99_999_999_999];
        var calls = new List<(long Ts, string CallId)>();
        foreach (var ts in times)
        {
            for (var i = 0; i < 8; i++)
            {
                calls.Add((ts, $"externalCall.{TestPortal.Hex(16)}.{ts}"));
            }
        }

        var byKey = calls.OrderBy(c => CallKey.Of(c.CallId), StringComparer.Ordinal).ToList();

        byKey.Select(c => c.Ts).Should().BeInAscendingOrder();
        byKey.Should().Equal(calls.OrderBy(c => c.Ts).ThenBy(c => c.CallId, StringComparer.Ordinal), "the same time is ordered by the CALL_ID");
        calls.Select(c => c.CallId).Order(StringComparer.Ordinal).Select(id => long.Parse(id[(id.LastIndexOf('.') + 1)..], System.Globalization.CultureInfo.InvariantCulture))
            .Should().NotBeInAscendingOrder("the CALL_IDs alone sort by their hash");
    }

    [Fact]
    public void A_later_call_sorts_after_an_earlier_one_with_any_hash()
    {
        for (var i = 0; i < 200; i++)
        {
            var earlier = $"externalCall.{TestPortal.Hex(16)}.{1_773_130_779 + i}";
            var later = $"externalCall.{TestPortal.Hex(16)}.{1_773_130_780 + i}";

            string.CompareOrdinal(CallKey.Of(earlier), CallKey.Of(later)).Should().BeNegative($"{later} was registered after {earlier}");
        }
    }

    [Fact]
    public void CALL_IDs_without_a_time_sort_before_those_with_one()
    {
        string.CompareOrdinal(CallKey.Of("zzzz-no-time"), CallKey.Of("a.0")).Should().BeNegative();
        string.CompareOrdinal(CallKey.Of("externalCall.ffff.x"), CallKey.Of("externalCall.0000.1")).Should().BeNegative();
    }

    [Fact]
    public void CallIdOf_refuses_a_string_shorter_than_the_prefix()
    {
        FluentActions.Invoking(() => CallKey.CallIdOf("00001773")).Should().Throw<ArgumentException>();
        FluentActions.Invoking(() => CallKey.Of(null!)).Should().Throw<ArgumentNullException>();
    }

    [Fact]
    public void An_outbox_key_leads_with_the_registration_second_then_the_command_and_the_portal()
    {
        const string CallId = "externalCall.716fa1d2c568e4b2b11c2f2f0e8d2c56.1773130779";

        CallKey.OutboxKey(new OriginateCall(CallId, "+1", null, 5, null), "m1").Should().Be("1773130779/originate:" + CallId + "@m1");
        CallKey.OutboxKey(new FinishCall(CallId), "m1").Should().Be("1773130779/finish:" + CallId + "@m1");
        CallKey.OutboxKey(new ShowCard(CallId, 7), "m1").Should().Be("1773130779/" + new ShowCard(CallId, 7).Key + "@m1");
        CallKey.OutboxKey(new FinishCall("asterisk-1773239326"), "m1").Should().Be("finish:asterisk-1773239326@m1", "no numeric tail after a dot: no prefix");
    }

    [Fact]
    public void Outbox_keys_are_equal_exactly_when_command_and_portal_are()
    {
        var callId = Bitrix24Events.NewCallId();
        var other = Bitrix24Events.NewCallId();

        CallKey.OutboxKey(new FinishCall(callId), "m1").Should().Be(CallKey.OutboxKey(new FinishCall(callId), "m1"));
        CallKey.OutboxKey(new FinishCall(callId), "m1").Should().NotBe(CallKey.OutboxKey(new FinishCall(callId), "m2"), "another portal's call is another call");
        CallKey.OutboxKey(new FinishCall(callId), "m1").Should().NotBe(CallKey.OutboxKey(new FinishCall(other), "m1"));
        CallKey.OutboxKey(new ShowCard(callId, 7), "m1").Should().NotBe(CallKey.OutboxKey(new ShowCard(callId, 8), "m1"));
    }

    [Fact]
    public void The_commands_of_a_later_call_sort_after_those_of_an_earlier_one_with_any_hash_and_verb()
    {
        string[] verbs = ["originate", "finish", "show", "attachRecord"];
        for (var i = 0; i < 200; i++)
        {
            var earlier = $"externalCall.{TestPortal.Hex(16)}.{1_773_130_779 + i}";
            var later = $"externalCall.{TestPortal.Hex(16)}.{1_773_130_780 + i}";
            OutboxCommand Command(string verb, string callId) => verb switch
            {
                "originate" => new OriginateCall(callId, null, null, null, null),
                "finish" => new FinishCall(callId),
                "show" => new ShowCard(callId, 1),
                _ => new AttachRecord(callId, "/rec/a.wav"),
            };

            var a = CallKey.OutboxKey(Command(verbs[i % 4], earlier), "ffff");
            var b = CallKey.OutboxKey(Command(verbs[(i + 1) % 4], later), "0000");
            string.CompareOrdinal(a, b).Should().BeNegative($"{later} was registered after {earlier}, so its commands go to the end of the outbox's key index");
        }
    }
}
