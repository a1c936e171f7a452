using System.Text;
using Switchboard.Bitrix24.Tests.Support;
using Switchboard.Bitrix24.Wire;

namespace Switchboard.Bitrix24.Tests.Wire;

public sealed class JsonEventBodyParserTests
{
    // Literally as printed in the docs (/work/shared/seeds/000_818639a2afa7973f.txt).
    private const string ExternalCallStartSeed = """
        {
        "event": "ONEXTERNALCALLSTART",
        "event_handler_id": "1055",
        "data": {
        "PHONE_NUMBER": "+14155551234",
        "PHONE_NUMBER_INTERNATIONAL": "+14155551234",
        "EXTENSION": "",
        "USER_ID": "1269",
        "CALL_LIST_ID": "0",
        "LINE_NUMBER": "7",
        "IS_MOBILE": "0",
        "CALL_ID": "externalCall.89350264e026dace3f2b14d1f438257c.1773236989",
        "CRM_ENTITY_TYPE": "CONTACT",
        "CRM_ENTITY_ID": "797"
        },
        "ts": "1773236988",
        "auth": {
        "access_token": "s7p6eclrvim9da28dt9ch94ekreb52sv",
        "expires_in": "3600",
        "scope": "telephony",
        "domain": "some-domain.bitrix24.com",
        "server_endpoint": "https://oauth.bitrix.info/rest/",
        "status": "F",
        "client_endpoint": "https://example.bitrix24.com/rest/",
        "member_id": "a223c6b9410f85df78e9377d6c4f7213",
        "refresh_token": "4s386p3q0tr8dy89xvmt96234v3dljg8",
        "application_token": "51610fefc120afg4b628cc82d6298cce"
        }
        }
        """;

    // Literally as printed in the docs (/work/shared/seeds/002_cc6a7ae0e5bb2ef5.txt).
    private const string VoximplantCallStartSeed = """
        {
        "event": "ONVOXIMPLANTCALLSTART",
        "event_handler_id": "1059",
        "data": {
        "CALL_ID": "externalCall.7b0c7de811455ef32b18dc5917e4306a.1773239327",
        "USER_ID": "1269"
        },
        "ts": "1773239326",
        "auth": {
        "access_token": "s7p6eclrvim9da28dt9ch94ekreb52sv",
        "expires_in": "3600",
        "scope": "telephony",
        "domain": "some-domain.bitrix24.com",
        "server_endpoint": "https://oauth.bitrix.info/rest/",
        "status": "F",
        "client_endpoint": "https://example.bitrix24.com/rest/",
        "member_id": "a223c6b9410f85df78e9377d6c4f7213",
        "refresh_token": "4s386p3q0tr8dy89xvmt96234v3dljg8",
        "application_token": "51610fefc120afg4b628cc82d6298cce"
        }
        }
        """;

    [Theory]
    [InlineData(ExternalCallStartSeed, "onexternalcallstart.seed")]
    [InlineData(VoximplantCallStartSeed, "onvoximplantcallstart.seed")]
    public void The_JSON_form_of_a_seed_gives_the_same_tree_as_its_form_body(string json, string fixture)
    {
        var fromJson = Parse(json);

        Tree.Flatten(fromJson).Should().Equal(Tree.Flatten(Fixture.Parse(fixture)));
        fromJson.CountValues().Should().BeGreaterThan(10);
    }

    [Theory]
    [MemberData(nameof(Fixture.All), MemberType = typeof(Fixture))]
    public void PHP_parse_str_output_as_JSON_gives_the_same_tree_as_the_form_body(string name)
    {
        var fromJson = Parse(Fixture.ParseStrJson(name));

        Tree.Flatten(fromJson).Should().Equal(Tree.Flatten(Fixture.Parse(name)));
    }

    [Fact]
    public void True_and_false_become_1_and_0_as_http_build_query_would_send_them()
    {
        var data = Parse("""{"data":{"yes":true,"no":false}}""")["data"]!;

        data.GetString("yes").Should().Be("1");
        data.GetString("no").Should().Be("0");
    }

    [Fact]
    public void Null_is_left_out_as_http_build_query_would_leave_it_out()
    {
        var root = Parse("""{"event":"ONAPPUNINSTALL","auth":{"access_token":null,"member_id":"m"}}""");

        root["auth"]!.TryGet("access_token", out _).Should().BeFalse();
        Tree.Flatten(root).Should().Equal("event = \"ONAPPUNINSTALL\"", "auth[member_id] = \"m\"");
    }

    [Theory]
    [InlineData("1773236988", "1773236988")]
    [InlineData("-7", "-7")]
    [InlineData("0", "0")]
    [InlineData("1.50", "1.50")]
    [InlineData("0.0000", "0.0000")]
    [InlineData("1e3", "1e3")]
    [InlineData("-2.5E-3", "-2.5E-3")]
    public void A_number_becomes_its_text_as_written(string number, string expected)
    {
        Parse($$"""{"ts":{{number}}}""").GetString("ts").Should().Be(expected);
    }

    [Fact]
    public void An_array_becomes_a_group_keyed_0_1_2()
    {
        var root = Parse("""{"data":{"PHONE":["a","b",{"VALUE":"c"}]}}""");

        Tree.Flatten(root).Should().Equal(
            "data[PHONE][0] = \"a\"", "data[PHONE][1] = \"b\"", "data[PHONE][2][VALUE] = \"c\"");
    }

    [Fact]
    public void A_null_in_an_array_keeps_its_index_free()
    {
        // http_build_query(['a' => ['x', null, 'y']]) sends a[0]=x&a[2]=y.
        Tree.Flatten(Parse("""{"a":["x",null,"y"]}""")).Should().Equal("a[0] = \"x\"", "a[2] = \"y\"");
    }

    [Fact]
    public void An_empty_object_is_an_empty_group()
    {
        var root = Parse("""{"event":"ONOFFLINEEVENT","data":{}}""");

        root["data"]!.IsValue.Should().BeFalse();
        root["data"]!.Children.Should().BeEmpty();
    }

    [Fact]
    public void Escapes_and_non_ASCII_text_decode()
    {
        var root = Parse("""{"TEXT":"Перезвоните \u043c\u043d\u0435 \"now\"\n\uD83D\uDCDE"}""");

        root.GetString("TEXT").Should().Be("Перезвоните мне \"now\"\n📞");
    }

    [Theory]
    [InlineData("""["event"]""")]
    [InlineData("[]")]
    [InlineData("\"ONEXTERNALCALLSTART\"")]
    [InlineData("42")]
    [InlineData("true")]
    [InlineData("null")]
    public void A_root_that_is_not_an_object_is_the_wrong_shape(string json)
    {
        Fail(json).Should().Be(FormError.WrongShape);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("{")]
    [InlineData("""{"event":""")]
    [InlineData("""{"event":}""")]
    [InlineData("""{'event':'x'}""")]
    [InlineData("""{"event":"x",}""")]
    [InlineData("""{"event":"x" /* c */}""")]
    [InlineData("""{event:"x"}""")]
    [InlineData("event=ONEXTERNALCALLSTART&data%5BCALL_ID%5D=1")]
    public void Text_that_is_not_JSON_is_invalid_JSON(string json)
    {
        Fail(json).Should().Be(FormError.InvalidJson);
    }

    [Theory]
    [InlineData("""{"event":"x"} x""")]
    [InlineData("""{"event":"x"}{"event":"y"}""")]
    [InlineData("""{"event":"x"}]""")]
    [InlineData("""{"event":"x"} null""")]
    public void Text_after_the_closing_brace_is_invalid_JSON(string json)
    {
        Fail(json).Should().Be(FormError.InvalidJson);
    }

    [Fact]
    public void A_truncated_body_is_invalid_JSON_not_too_deep_even_at_the_depth_limit()
    {
        Fail(Nest(8).TrimEnd('}')).Should().Be(FormError.InvalidJson);
        JsonEventBodyParser.Parse("{"u8, new FormLimits { MaxDepth = 1 }).Error.Should().Be(FormError.InvalidJson);
    }

    [Fact]
    public void Whitespace_after_the_closing_brace_is_fine()
    {
        Parse("{\"event\":\"x\"}  \r\n\t").GetString("event").Should().Be("x");
    }

    [Theory]
    [InlineData("""{"a":"1","a":"2"}""")]
    [InlineData("""{"auth":{"application_token":"mine","application_token":"theirs"}}""")]
    [InlineData("""{"a":"1","a":{"b":"2"}}""")]
    [InlineData("""{"a":{"b":"2"},"a":"1"}""")]
    [InlineData("""{"data":{},"data":{}}""")]
    public void A_repeated_property_is_a_duplicate(string json)
    {
        Fail(json).Should().Be(FormError.DuplicateKey);
    }

    [Fact]
    public void Nesting_at_the_depth_limit_parses_and_one_level_more_is_too_deep()
    {
        // Eight objects (the root and seven inside it) hold a value whose form key has eight segments.
        Parse(Nest(8)).CountValues().Should().Be(1);
        Fail(Nest(9)).Should().Be(FormError.TooDeep);
    }

    [Fact]
    public void Deeply_nested_arrays_are_too_deep_rather_than_a_crash()
    {
        var json = "{\"a\":" + new string('[', 100_000) + new string(']', 100_000) + "}";

        Fail(json).Should().Be(FormError.TooDeep);
    }

    [Fact]
    public void The_depth_limit_matches_the_form_parser()
    {
        var limits = new FormLimits { MaxDepth = 2 };

        JsonEventBodyParser.Parse("""{"data":{"CALL_ID":"1"}}"""u8, limits).Success.Should().BeTrue();
        JsonEventBodyParser.Parse("""{"data":{"FIELDS":{"ID":"1"}}}"""u8, limits).Error.Should().Be(FormError.TooDeep);
    }

    [Theory]
    [InlineData("""{"a":"\uD800"}""")]
    [InlineData("""{"a":"x\uDC00y"}""")]
    [InlineData("""{"a":"\uDE00\uD83D"}""")]
    [InlineData("""{"\uD800":"x"}""")]
    public void A_lone_surrogate_escape_is_not_valid_Unicode(string json)
    {
        Fail(json).Should().Be(FormError.InvalidUtf8);
    }

    [Fact]
    public void Raw_bytes_that_are_not_UTF8_are_rejected()
    {
        byte[] json = [.. "{\"a\":\""u8, 0xC3, 0x28, .. "\"}"u8];

        var result = JsonEventBodyParser.Parse(json);

        result.Success.Should().BeFalse();
        result.Error.Should().BeOneOf(FormError.InvalidUtf8, FormError.InvalidJson);
    }

    [Fact]
    public void An_empty_property_name_is_a_malformed_key()
    {
        Fail("""{"":"x"}""").Should().Be(FormError.MalformedKey);
    }

    [Fact]
    public void Field_limits_apply_to_JSON_as_to_form_bodies()
    {
        var limits = new FormLimits { MaxKeys = 2, MaxKeyLength = 4, MaxValueLength = 3 };

        JsonEventBodyParser.Parse("""{"abcd":"xyz","b":{"c":true}}"""u8, limits).Success.Should().BeTrue();
        JsonEventBodyParser.Parse("""{"a":"1","b":"2","c":"3"}"""u8, limits).Error.Should().Be(FormError.TooManyKeys);
        JsonEventBodyParser.Parse("""{"a":"1","b":{"c":"2","d":"3"}}"""u8, limits).Error.Should().Be(FormError.TooManyKeys);
        JsonEventBodyParser.Parse("""{"abcde":"1"}"""u8, limits).Error.Should().Be(FormError.KeyTooLong);
        JsonEventBodyParser.Parse("""{"жжж":"1"}"""u8, limits).Error.Should().Be(FormError.KeyTooLong); // 6 bytes
        JsonEventBodyParser.Parse("""{"a":"wxyz"}"""u8, limits).Error.Should().Be(FormError.ValueTooLong);
        JsonEventBodyParser.Parse("""{"a":1234}"""u8, limits).Error.Should().Be(FormError.ValueTooLong);
    }

    [Fact]
    public void The_default_limits_allow_a_thousand_values_and_no_more()
    {
        var thousand = "{" + string.Join(',', Enumerable.Range(0, 1000).Select(i => $"\"k{i}\":\"v\"")) + "}";
        var more = thousand.TrimEnd('}') + ",\"k1000\":\"v\"}";

        Parse(thousand).CountValues().Should().Be(1000);
        Fail(more).Should().Be(FormError.TooManyKeys);
    }

    [Fact]
    public void The_error_detail_never_quotes_a_value()
    {
        var result = JsonEventBodyParser.Parse("""{"auth":{"application_token":"s3cr3tT0ken","application_token":"s3cr3tT0ken"}}"""u8);

        result.Error.Should().Be(FormError.DuplicateKey);
        result.Detail.Should().Contain("'auth[…]'").And.NotContain("s3cr3tT0ken").And.NotContain("application_token");
    }

    private static string Nest(int objects)
    {
        var json = "\"v\"";
        for (var i = 0; i < objects; i++)
        {
            json = "{\"a\":" + json + "}";
        }

        return json;
    }

    private static FormNode Parse(string json)
    {
        var result = JsonEventBodyParser.Parse(Encoding.UTF8.GetBytes(json));
        result.Success.Should().BeTrue(because: result.Detail);
        return result.Root!;
    }

    private static FormError Fail(string json)
    {
        var result = JsonEventBodyParser.Parse(Encoding.UTF8.GetBytes(json));
        result.Success.Should().BeFalse(because: $"'{(json.Length > 80 ? json[..80] + "…" : json)}' must be rejected");
        result.Root.Should().BeNull();
        result.Detail.Should().NotBeNullOrWhiteSpace();
        return result.Error;
    }
}
