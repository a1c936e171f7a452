using System.Text;
using Switchboard.Bitrix24.Tests.Support;
using Switchboard.Bitrix24.Wire;
using static Switchboard.Bitrix24.Tests.Support.Php;

namespace Switchboard.Bitrix24.Tests.Wire;

public sealed class HttpBuildQueryTests
{
    [Theory]
    [MemberData(nameof(Fixture.Built), MemberType = typeof(Fixture))]
    public void Encoding_the_same_fields_gives_the_bytes_PHP_http_build_query_gave(string name)
    {
        var encoded = HttpBuildQuery.Encode(FixtureBodies.Get(name));

        encoded.Should().Be(Fixture.Body(name));
    }

    [Theory]
    [MemberData(nameof(Fixture.Built), MemberType = typeof(Fixture))]
    public void A_parsed_fixture_encodes_back_to_the_same_bytes(string name)
    {
        var root = Fixture.Parse(name);

        HttpBuildQuery.Encode(root).Should().Be(Fixture.Body(name));
    }

    [Fact]
    public void Brackets_of_nested_keys_are_percent_encoded_as_PHP_does()
    {
        var body = HttpBuildQuery.Encode(Map(("data", Map(("FIELDS", Map(("ID", "42")))))));

        body.Should().Be("data%5BFIELDS%5D%5BID%5D=42");
    }

    [Fact]
    public void Space_becomes_plus_and_plus_becomes_percent_2B()
    {
        HttpBuildQuery.Encode(Map(("n", "+7 495"))).Should().Be("n=%2B7+495");
    }

    [Fact]
    public void Only_letters_digits_dash_underscore_and_dot_stay_unescaped()
    {
        var sb = new StringBuilder();
        HttpBuildQuery.UrlEncode(sb, "aZ09-_.~*'!()/:?#&=%");

        sb.ToString().Should().Be("aZ09-_.%7E%2A%27%21%28%29%2F%3A%3F%23%26%3D%25");
    }

    [Fact]
    public void Non_ASCII_text_is_encoded_as_upper_case_UTF8_escapes()
    {
        var sb = new StringBuilder();
        HttpBuildQuery.UrlEncode(sb, "Пé📞");

        sb.ToString().Should().Be("%D0%9F%C3%A9%F0%9F%93%9E");
    }

    [Fact]
    public void Null_values_and_empty_groups_are_left_out_like_PHP_does()
    {
        var body = HttpBuildQuery.Encode(Map(("a", null), ("b", Map()), ("c", List()), ("d", "1")));

        body.Should().Be("d=1");
    }

    [Fact]
    public void A_nested_dictionary_of_non_string_values_nests_by_key_not_by_position()
    {
        // PHP: http_build_query(['data' => ['CALL_TYPE' => 2, 'USER_ID' => 1269]])
        var data = new Dictionary<string, int> { ["CALL_TYPE"] = 2, ["USER_ID"] = 1269 };

        var body = HttpBuildQuery.Encode(Map(("data", data)));

        body.Should().Be("data%5BCALL_TYPE%5D=2&data%5BUSER_ID%5D=1269");
    }

    [Fact]
    public void A_string_dictionary_nests_by_key()
    {
        var data = new Dictionary<string, string> { ["CALL_ID"] = "x y" };

        HttpBuildQuery.Encode(Map(("data", data))).Should().Be("data%5BCALL_ID%5D=x+y");
    }
}
