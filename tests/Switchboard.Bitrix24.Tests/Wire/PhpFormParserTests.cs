using System.Text;
using Switchboard.Bitrix24.Tests.Support;
using Switchboard.Bitrix24.Wire;

namespace Switchboard.Bitrix24.Tests.Wire;

public sealed class PhpFormParserTests
{
    [Fact]
    public void The_fixture_folder_holds_exactly_the_listed_fixtures()
    {
        var onDisk = Directory.GetFiles(Fixture.Folder, "*.form").Select(p => Path.GetFileNameWithoutExtension(p));

        onDisk.Should().BeEquivalentTo(Fixture.Names);
    }

    [Theory]
    [MemberData(nameof(Fixture.All), MemberType = typeof(Fixture))]
    public void Every_fixture_parses_to_the_tree_PHP_parse_str_makes_of_it(string name)
    {
        var root = Fixture.Parse(name);

        Tree.Flatten(root).Should().Equal(Fixture.ParseStrFlattened(name));
    }

    [Fact]
    public void The_click_to_call_seed_has_the_documented_envelope_and_string_values()
    {
        var root = Fixture.Parse("onexternalcallstart.seed");

        root.Children.Select(c => c.Key).Should().Equal("event", "event_handler_id", "data", "ts", "auth");
        root.GetString("event").Should().Be("ONEXTERNALCALLSTART");
        root.GetString("event_handler_id").Should().Be("1055");
        root.GetString("ts").Should().Be("1773236988");

        var data = root["data"]!;
        data.IsValue.Should().BeFalse();
        data.Children.Should().HaveCount(10);
        data.GetString("PHONE_NUMBER").Should().Be("+14155551234");
        data.GetString("EXTENSION").Should().Be(string.Empty);
        data.GetString("CALL_ID").Should().Be("externalCall.89350264e026dace3f2b14d1f438257c.1773236989");

        var auth = root["auth"]!;
        auth.Children.Select(c => c.Key).Should().Equal(
            "access_token", "expires_in", "scope", "domain", "server_endpoint", "status",
            "client_endpoint", "member_id", "refresh_token", "application_token");
        auth.GetString("server_endpoint").Should().Be("https://oauth.bitrix.info/rest/");
        auth.GetString("application_token").Should().Be(FixtureBodies.SeedApplicationToken);
        root.CountValues().Should().Be(23);
    }

    [Fact]
    public void A_nested_key_becomes_nested_groups()
    {
        var root = Fixture.Parse("oncrmdealupdate");

        var fields = root["data"]!["FIELDS"]!;
        fields.IsValue.Should().BeFalse();
        fields.GetString("ID").Should().Be("42");
        root["data"]!.GetString("FIELDS").Should().BeNull(because: "FIELDS is a group, not a value");
    }

    [Fact]
    public void Indexed_keys_become_a_group_keyed_0_1_in_order()
    {
        var data = Fixture.Parse("odd.indexed-array")["data"]!;

        data["PHONE"]!.Children.Select(c => (c.Key, c.Value.Value)).Should().Equal(
            ("0", "+1 415 555 0100"), ("1", "+1 415 555 0101"));
        data["EMAIL"]!["1"]!.GetString("TYPE").Should().Be("HOME");
    }

    [Fact]
    public void Plus_is_a_space_and_percent_2B_is_a_plus()
    {
        var data = Fixture.Parse("odd.plus-and-spaces")["data"]!;

        data.GetString("PHONE_NUMBER").Should().Be("+7 (495) 123-45-67");
        data.GetString("LINE_NUMBER").Should().Be("Main line + 2");
    }

    [Fact]
    public void Cyrillic_text_is_decoded_from_UTF8()
    {
        Fixture.Parse("onexternalcallbackstart")["data"]!.GetString("TEXT").Should().Be("Перезвоните мне, пожалуйста");
    }

    [Fact]
    public void Ampersand_and_equals_inside_a_value_do_not_split_it()
    {
        var data = Fixture.Parse("odd.amp-and-equals")["data"]!;

        data.GetString("TEXT").Should().Be("Tom & Jerry: a=1&b=2 ?x=y#top");
        data.Children.Should().HaveCount(6);
    }

    [Fact]
    public void Control_characters_brackets_and_odd_keys_survive_decoding()
    {
        var data = Fixture.Parse("odd.special-chars")["data"]!;

        data["FIELDS"]!.GetString("TITLE").Should().Be(FixtureBodies.SpecialTitle);
        data.GetString("a b").Should().Be("space key");
        data.GetString("x.y").Should().Be("dot key");
        data.GetString("ключ").Should().Be("значение");
    }

    [Fact]
    public void An_empty_data_block_is_simply_absent()
    {
        var root = Fixture.Parse("onofflineevent");

        root["data"].Should().BeNull();
        root.GetString("event").Should().Be("ONOFFLINEEVENT");
    }

    [Fact]
    public void An_empty_body_is_an_empty_tree()
    {
        var result = PhpFormParser.Parse(string.Empty);

        result.Success.Should().BeTrue();
        result.Root!.Children.Should().BeEmpty();
    }

    [Fact]
    public void Only_the_first_equals_sign_separates_name_from_value()
    {
        Parse("a=b=c").GetString("a").Should().Be("b=c");
    }

    [Fact]
    public void Empty_pairs_are_skipped()
    {
        var root = Parse("&a=1&&b=2&");

        Tree.Flatten(root).Should().Equal("a = \"1\"", "b = \"2\"");
    }

    [Fact]
    public void A_pair_without_an_equals_sign_is_an_empty_value()
    {
        var root = Parse("a&b=2&data[EXTENSION]");

        Tree.Flatten(root).Should().Equal("a = \"\"", "b = \"2\"", "data[EXTENSION] = \"\"");
    }

    [Fact]
    public void Empty_brackets_append_at_the_next_integer_key()
    {
        var root = Parse("a[]=x&a[]=y&a[]=z");

        Tree.Flatten(root).Should().Equal("a[0] = \"x\"", "a[1] = \"y\"", "a[2] = \"z\"");
    }

    [Fact]
    public void Empty_brackets_append_one_past_the_largest_integer_key()
    {
        var root = Parse("a[5]=x&a[name]=n&a[]=y");

        Tree.Flatten(root).Should().Equal("a[5] = \"x\"", "a[name] = \"n\"", "a[6] = \"y\"");
    }

    [Theory]
    [InlineData("a[07]=x&a[]=y", "a[0]")] // "07" is a string key in PHP
    [InlineData("a[%2B5]=x&a[]=y", "a[0]")]
    [InlineData("a[-0]=x&a[]=y", "a[0]")]
    [InlineData("a[-3]=x&a[]=y", "a[-2]")] // PHP 8.2 parse_str: one past the largest, negatives included
    [InlineData("a[10]=x&a[9]=z&a[]=y", "a[11]")]
    public void Empty_brackets_follow_PHP_integer_key_rules(string body, string appended)
    {
        Tree.Flatten(Parse(body))[^1].Should().Be($"{appended} = \"y\"");
    }

    [Fact]
    public void Empty_brackets_in_the_middle_of_a_key_start_a_new_group_each_time()
    {
        var root = Parse("a[][ID]=1&a[][ID]=2");

        Tree.Flatten(root).Should().Equal("a[0][ID] = \"1\"", "a[1][ID] = \"2\"");
    }

    [Theory]
    [InlineData("a=%4")]
    [InlineData("a=%")]
    [InlineData("a=%zz")]
    [InlineData("a=x%4")]
    [InlineData("a=%G1")]
    [InlineData("data[%4]=1")]
    [InlineData("%=1")]
    [InlineData("data%5BCALL_ID%5=1")]
    public void A_percent_without_two_hex_digits_is_a_bad_escape(string body)
    {
        Fail(body).Should().Be(FormError.BadPercentEscape);
    }

    [Theory]
    [InlineData("a=%C3%28")]
    [InlineData("a=%FF")]
    [InlineData("a=%C3")]
    [InlineData("a=%ED%A0%80")] // an encoded lone surrogate (CESU-8), not UTF-8
    [InlineData("a=%C0%AF")] // overlong '/'
    [InlineData("data[%FF]=1")]
    [InlineData("%C3%28=1")]
    public void Bytes_that_are_not_UTF8_are_rejected(string body)
    {
        Fail(body).Should().Be(FormError.InvalidUtf8);
    }

    [Theory]
    [InlineData(new byte[] { (byte)'a', (byte)'=', 0xC3, (byte)'%', (byte)'A', (byte)'9' })] // raw 0xC3 + "%A9": decodes to "é"
    [InlineData(new byte[] { (byte)'a', (byte)'=', 0xFF })]
    [InlineData(new byte[] { 0xC3, (byte)'=', (byte)'1' })]
    public void Raw_bytes_that_are_not_UTF8_are_rejected_even_when_the_decoded_value_would_be(byte[] body)
    {
        var result = PhpFormParser.Parse(body);
        result.Success.Should().BeFalse();
        result.Error.Should().Be(FormError.InvalidUtf8);
    }

    [Fact]
    public void Raw_UTF8_outside_the_escapes_is_still_accepted()
    {
        // Not what http_build_query sends, but valid UTF-8: read as the characters it is.
        var result = PhpFormParser.Parse(System.Text.Encoding.UTF8.GetBytes("data[NAME]=Иван"));
        result.Success.Should().BeTrue();
        result.Root!["data"]!["NAME"]!.Value.Should().Be("Иван");
    }

    [Fact]
    public void Lower_case_hex_escapes_decode()
    {
        Parse("a=%d0%9f%c3%a9").GetString("a").Should().Be("Пé");
    }

    [Theory]
    [InlineData("data[=1")]
    [InlineData("data[CALL_ID=1")]
    [InlineData("data]=1")]
    [InlineData("data]x[=1")]
    [InlineData("data[a]x=1")]
    [InlineData("data[a][b]c=1")]
    [InlineData("data[a[b]]=1")]
    [InlineData("data[a][=1")]
    public void An_unbalanced_or_misplaced_bracket_is_a_malformed_key(string body)
    {
        Fail(body).Should().Be(FormError.MalformedKey);
    }

    [Theory]
    [InlineData("=x")]
    [InlineData("=")]
    [InlineData("[a]=1")]
    [InlineData("[]=1")]
    public void A_key_with_no_name_before_its_brackets_is_malformed(string body)
    {
        Fail(body).Should().Be(FormError.MalformedKey);
    }

    [Fact]
    public void A_key_at_the_depth_limit_parses_and_one_deeper_is_too_deep()
    {
        // Depth counts segments: "a" is 1, "a[1][2]…[7]" is 8 (the default limit).
        var atLimit = "a" + string.Concat(Enumerable.Range(1, 7).Select(i => $"[{i}]")) + "=v";
        var tooDeep = "a" + string.Concat(Enumerable.Range(1, 8).Select(i => $"[{i}]")) + "=v";

        PhpFormParser.Parse(atLimit).Success.Should().BeTrue();
        Fail(tooDeep).Should().Be(FormError.TooDeep);
    }

    [Fact]
    public void A_hugely_deep_key_is_too_deep_rather_than_slow_or_a_crash()
    {
        var body = "a" + string.Concat(Enumerable.Repeat("[x]", 100_000)) + "=v";

        // With the default limits the 300 KB key is simply too long; lift that to reach the depth check.
        Fail(body).Should().Be(FormError.KeyTooLong);
        PhpFormParser.Parse(body, new FormLimits { MaxKeyLength = 1_000_000 }).Error.Should().Be(FormError.TooDeep);
    }

    [Fact]
    public void The_depth_limit_can_be_lowered()
    {
        var limits = new FormLimits { MaxDepth = 2 };

        PhpFormParser.Parse("data[CALL_ID]=1", limits).Success.Should().BeTrue();
        PhpFormParser.Parse("data[FIELDS][ID]=1", limits).Error.Should().Be(FormError.TooDeep);
    }

    [Fact]
    public void A_thousand_fields_parse_and_one_more_is_too_many()
    {
        var thousand = string.Join('&', Enumerable.Range(0, 1000).Select(i => $"k{i}=v"));

        PhpFormParser.Parse(thousand).Root!.CountValues().Should().Be(1000);
        Fail(thousand + "&k1000=v").Should().Be(FormError.TooManyKeys);
    }

    [Fact]
    public void Empty_pairs_do_not_count_towards_the_field_limit()
    {
        var limits = new FormLimits { MaxKeys = 2 };

        PhpFormParser.Parse("a=1&&&&&&b=2", limits).Success.Should().BeTrue();
        PhpFormParser.Parse("a=1&b=2&c=3", limits).Error.Should().Be(FormError.TooManyKeys);
    }

    [Fact]
    public void A_key_of_256_bytes_parses_and_257_is_too_long()
    {
        PhpFormParser.Parse(new string('k', 256) + "=v").Success.Should().BeTrue();
        Fail(new string('k', 257) + "=v").Should().Be(FormError.KeyTooLong);
    }

    [Fact]
    public void Key_length_is_counted_in_decoded_UTF8_bytes()
    {
        // 129 Cyrillic letters are 258 bytes; the raw, percent-encoded key is far longer but that does not count.
        var key = HttpBuildQueryKey(new string('ж', 128));

        PhpFormParser.Parse(key + "=v").Success.Should().BeTrue();
        Fail(HttpBuildQueryKey(new string('ж', 129)) + "=v").Should().Be(FormError.KeyTooLong);
    }

    [Fact]
    public void A_value_of_32_KiB_parses_and_one_byte_more_is_too_long()
    {
        PhpFormParser.Parse("a=" + new string('v', 32 * 1024)).Success.Should().BeTrue();
        Fail("a=" + new string('v', (32 * 1024) + 1)).Should().Be(FormError.ValueTooLong);
    }

    [Fact]
    public void The_value_limit_counts_decoded_bytes_not_escapes()
    {
        var limits = new FormLimits { MaxValueLength = 3 };

        PhpFormParser.Parse("a=%41%42%43", limits).Success.Should().BeTrue();
        PhpFormParser.Parse("a=%41%42%43%44", limits).Error.Should().Be(FormError.ValueTooLong);
    }

    [Theory]
    [InlineData("a=1&a=2")]
    [InlineData("a=1&a=1")]
    [InlineData("auth[application_token]=mine&auth[application_token]=theirs")]
    [InlineData("auth%5Bapplication_token%5D=mine&auth[application_token]=theirs")]
    [InlineData("data[FIELDS][ID]=1&data[FIELDS][ID]=2")]
    [InlineData("a[0]=x&a[]=y&a[1]=z")]
    public void A_repeated_key_is_a_duplicate(string body)
    {
        Fail(body).Should().Be(FormError.DuplicateKey);
    }

    [Theory]
    [InlineData("a=1&a[b]=2")]
    [InlineData("a[b]=2&a=1")]
    [InlineData("auth=x&auth[application_token]=t")]
    [InlineData("data[FIELDS]=1&data[FIELDS][ID]=2")]
    [InlineData("data[FIELDS][ID]=2&data[FIELDS]=1")]
    public void A_key_that_is_both_a_value_and_a_group_is_a_duplicate(string body)
    {
        Fail(body).Should().Be(FormError.DuplicateKey);
    }

    [Theory]
    [InlineData("auth[application_token]=s3cr3tT0ken%zz", FormError.BadPercentEscape)]
    [InlineData("auth[application_token]=s3cr3tT0ken%FF", FormError.InvalidUtf8)]
    [InlineData("auth[application_token]=s3cr3tT0ken&auth[application_token]=s3cr3tT0ken", FormError.DuplicateKey)]
    public void The_error_detail_names_the_field_but_never_quotes_its_value(string body, FormError error)
    {
        var result = PhpFormParser.Parse(body);

        result.Error.Should().Be(error);
        result.Detail.Should().Contain("'auth[…]'").And.NotContain("s3cr3tT0ken").And.NotContain("application_token");
    }

    [Theory]
    [InlineData("event=X&auth%5Bapplication_token%5DM51610fefc120afg4b628cc82d6298cce", "'auth[…]'")]
    [InlineData("event=X&AUTH%5Brefresh_token%5D51610fefc120afg4b628cc82d6298cce", "'auth[…]'")]
    [InlineData("event=X&data%5BCALL_ID%5D51610fefc120afg4b628cc82d6298cce", "'data[CALL_ID]…'")]
    [InlineData("event=X&data%5B51610fefc120afg4b628cc82d6298cce51610fefc120afg4b628cc82d6298cce", "'data[51610fefc120afg4b628cc82d62…'")]
    public void A_name_with_a_value_glued_on_is_named_by_its_well_formed_part_never_the_value(string body, string label)
    {
        var result = PhpFormParser.Parse(body);

        result.Error.Should().Be(FormError.MalformedKey);
        result.Detail.Should().Contain(label).And.NotContain("51610fefc120afg4b628cc82d6298cce").And.NotContain("application_token");
    }

    [Fact]
    public void The_error_detail_shortens_a_very_long_key()
    {
        var result = PhpFormParser.Parse("a[" + new string('k', 200) + "=1");

        result.Error.Should().Be(FormError.MalformedKey);
        result.Detail!.Length.Should().BeLessThan(200);
    }

    [Fact]
    public void Parsing_bytes_and_parsing_the_same_string_give_the_same_tree()
    {
        var fromBytes = PhpFormParser.Parse(Fixture.Bytes("onexternalcallbackstart")).Root!;
        var fromString = PhpFormParser.Parse(Fixture.Body("onexternalcallbackstart")).Root!;

        Tree.Flatten(fromString).Should().Equal(Tree.Flatten(fromBytes));
    }

    [Fact]
    public void A_group_with_many_children_still_finds_each_one()
    {
        // Past eight children FormNode switches from a linear search to an index.
        var body = string.Join('&', Enumerable.Range(0, 20).Select(i => $"data[K{i}]={i}"));

        var data = Parse(body)["data"]!;

        Enumerable.Range(0, 20).Select(i => data.GetString($"K{i}")).Should().Equal(Enumerable.Range(0, 20).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Fail(body + "&data[K3]=again").Should().Be(FormError.DuplicateKey);
        data.GetString("K20").Should().BeNull();
    }

    private static string HttpBuildQueryKey(string key)
    {
        var sb = new StringBuilder();
        HttpBuildQuery.UrlEncode(sb, key);
        return sb.ToString();
    }

    private static FormNode Parse(string body)
    {
        var result = PhpFormParser.Parse(body);
        result.Success.Should().BeTrue(because: result.Detail);
        return result.Root!;
    }

    private static FormError Fail(string body)
    {
        var result = PhpFormParser.Parse(body);
        result.Success.Should().BeFalse(because: $"'{(body.Length > 80 ? body[..80] + "…" : body)}' must be rejected");
        result.Root.Should().BeNull();
        result.Detail.Should().NotBeNullOrWhiteSpace();
        return result.Error;
    }

    [Fact]
    public void A_key_with_control_characters_is_named_in_the_error_without_them()
    {
        var result = PhpFormParser.Parse("event=X&data%5Bforged%0AINFO+fake+log+line=1");

        result.Success.Should().BeFalse();
        result.Detail.Should().Contain("data[forged?INFO fake log line").And.NotContain("\n");
    }

    [Theory]
    [InlineData("%C2%85", "NEL")]
    [InlineData("%E2%80%A8", "line separator")]
    [InlineData("%E2%80%A9", "paragraph separator")]
    [InlineData("%C2%9B", "C1 escape")]
    public void A_key_with_a_Unicode_line_break_is_named_in_the_error_without_it(string encoded, string what)
    {
        var result = PhpFormParser.Parse($"event=X&data%5Bforged{encoded}INFO+fake+log+line=1");

        result.Success.Should().BeFalse();
        result.Detail.Should().Contain("data[forged?INFO fake log line", what);
    }
}
