using System.Text.RegularExpressions;
using Switchboard.Pbx;

namespace Switchboard.Tests.Pbx;

/// <summary>The one number normaliser: every spelling in, one E.164 number (or a clear error) out.</summary>
public sealed class NumberNormalizerTests
{
    public static TheoryData<string, string, string> InternationalNumbers => new()
    {
        // text, default country, E.164
        { "8 (916) 123-45-67", "RU", "+79161234567" },
        { "+7 916 123 45 67", "RU", "+79161234567" },
        { "+7 916 123 45 67", "US", "+79161234567" },
        { "007 916 123 45 67", "RU", "+79161234567" },
        { "0079161234567", "DE", "+79161234567" },
        { "810 7 916 123 45 67", "RU", "+79161234567" },
        { "81049301234567", "RU", "+49301234567" },
        { "9161234567", "RU", "+79161234567" },
        { "79161234567", "RU", "+79161234567" },
        { "8\u00a0916\u00a0123\u201245\u201367", "RU", "+79161234567" },
        { "8\u2009(916)\u2009123\u2013\u200945\u201467", "RU", "+79161234567" },
        { "+7\u2212916\u2212123\u22124567", "RU", "+79161234567" },
        { "８９１６１２３４５６７", "RU", "+79161234567" },
        { "8 (727) 123-45-67", "KZ", "+77271234567" },
        { "8 017 123-45-67", "BY", "+375171234567" },
        { "044 123 4567", "UA", "+380441234567" },
        { "(415) 555-1234", "US", "+14155551234" },
        { "1-415-555-1234", "US", "+14155551234" },
        { "415.555.1234", "CA", "+14155551234" },
        { "011 49 30 1234567", "US", "+49301234567" },
        { "0301234567", "DE", "+49301234567" },
        { "030 / 123 456 7", "DE", "+49301234567" },
        { "+49 (0)30 1234567", "DE", "+49301234567" },
        { "22 123 45 67", "PL", "+48221234567" },
        { "020 7946 0018", "GB", "+442079460018" },
        { "0212 123 45 67", "TR", "+902121234567" },
        { "(11) 91234-5678", "BR", "+5511912345678" },
        { "55 1234 5678", "MX", "+525512345678" },
        { "tel:+1-415-555-1234", "RU", "+14155551234" },
        { "TEL:+7-916-123-45-67;phone-context=example.com", "RU", "+79161234567" },
        { "  +14155551234  ", "RU", "+14155551234" },
    };

    [Theory]
    [MemberData(nameof(InternationalNumbers))]
    public void Every_spelling_of_a_public_number_gives_its_E164_form(string text, string country, string e164)
    {
        var n = NumberNormalizer.Normalize(text, country);

        n.Error.Should().BeNull();
        n.Kind.Should().Be(NumberKind.International);
        n.Value.Should().Be(e164);
        n.Extension.Should().BeNull();
    }

    [Theory]
    [InlineData("+1-415-555-1234 x12", "+14155551234", "12")]
    [InlineData("+1 415 555 1234 ext. 12", "+14155551234", "12")]
    [InlineData("(415) 555-1234 extension 7", "+14155551234", "7")]
    [InlineData("4155551234x12", "+14155551234", "12")]
    [InlineData("+7 916 123 45 67#101", "+79161234567", "101")]
    [InlineData("+7 916 123-45-67 доб. 55", "+79161234567", "55")]
    [InlineData("tel:+1-415-555-1234;ext=12", "+14155551234", "12")]
    [InlineData("+14155551234;ext=12", "+14155551234", "12")]
    public void An_extension_suffix_is_kept_apart_and_never_dialled_as_digits_of_the_number(string text, string e164, string extension)
    {
        var n = NumberNormalizer.Normalize(text, "US");
        n.Kind.Should().Be(NumberKind.International);
        n.Value.Should().Be(e164);
        n.Extension.Should().Be(extension);
        NumberNormalizer.Format(n, DialFormat.Digits, "US").Should().Be(e164[1..]);
    }

    [Theory]
    [InlineData("101", 5, "101")]
    [InlineData("12345", 5, "12345")]
    [InlineData("1 01", 5, "101")]
    [InlineData("123456", 6, "123456")]
    [InlineData("*97", 5, "*97")]
    [InlineData("*72101#", 5, "*72101#")]
    public void Short_numbers_and_feature_codes_are_internal_and_stay_as_they_are(string text, int maxLength, string value)
    {
        var n = NumberNormalizer.Normalize(text, "RU", maxLength);
        n.Kind.Should().Be(NumberKind.Internal);
        n.Value.Should().Be(value);
        foreach (var format in Enum.GetValues<DialFormat>())
        {
            NumberNormalizer.Format(n, format, "RU").Should().Be(value);
        }
    }

    [Fact]
    public void A_number_longer_than_the_extension_length_is_not_an_extension()
    {
        NumberNormalizer.Normalize("123456", "RU", 5).Kind.Should().Be(NumberKind.Invalid);
        NumberNormalizer.Normalize("+101", "RU", 5).Kind.Should().Be(NumberKind.Invalid);
    }

    [Theory]
    [InlineData(null, "empty")]
    [InlineData("", "empty")]
    [InlineData("   ", "empty")]
    [InlineData("call me", "not allowed")]
    [InlineData("1-800-FLOWERS", "not allowed")]
    [InlineData("+7 916 123", "too short")]
    [InlineData("+7 916 123 45 67 89 01 23", "too long")]
    [InlineData("+999 123 456 789", "country code")]
    [InlineData("---", "no digits")]
    [InlineData("+7 916 *123", "feature codes")]
    [InlineData("555-1234", "add the area code")]
    [InlineData("+1 415 555 1234 x", "not allowed")]
    [InlineData("12+345678", "not allowed")]
    [InlineData("<script>", "not allowed")]
    public void Garbage_gives_an_error_result_that_says_why_and_never_throws(string? text, string reason)
    {
        var n = NumberNormalizer.Normalize(text, "US");
        n.Kind.Should().Be(NumberKind.Invalid);
        n.IsValid.Should().BeFalse();
        n.Value.Should().BeNull();
        n.Error.Should().Contain(reason);
        NumberNormalizer.Format(n, DialFormat.E164, "US").Should().BeNull();
    }

    [Fact]
    public void A_very_long_text_is_refused_without_being_parsed()
    {
        NumberNormalizer.Normalize(new string('1', 5000), "RU").Error.Should().Contain("longer than 100");
    }

    [Fact]
    public void Without_a_default_country_a_national_number_keeps_its_digits_and_an_international_one_is_still_understood()
    {
        NumberNormalizer.Normalize("8 (916) 123-45-67", null).Should().Match<NormalizedNumber>(n => n.Kind == NumberKind.Unresolved && n.Value == "89161234567");
        NumberNormalizer.Normalize("+7 916 123 45 67", null).Value.Should().Be("+79161234567");
        NumberNormalizer.Normalize("00 49 30 1234567", null).Value.Should().Be("+49301234567");
    }

    [Theory]
    [InlineData("+7 916 123 45 67", "RU", DialFormat.E164, "+79161234567")]
    [InlineData("+7 916 123 45 67", "RU", DialFormat.National, "89161234567")]
    [InlineData("+7 916 123 45 67", "RU", DialFormat.Digits, "79161234567")]
    [InlineData("8 (916) 123-45-67", "RU", DialFormat.National, "89161234567")]
    [InlineData("+49 30 1234567", "RU", DialFormat.National, "81049301234567")]
    [InlineData("+49 30 1234567", "DE", DialFormat.National, "0301234567")]
    [InlineData("+49 30 1234567", "US", DialFormat.National, "01149301234567")]
    [InlineData("+1 415 555 1234", "US", DialFormat.National, "14155551234")]
    [InlineData("+1 415 555 1234", "DE", DialFormat.National, "0014155551234")]
    [InlineData("+1 415 555 1234", "US", DialFormat.E164, "+14155551234")]
    public void The_dial_format_writes_the_number_the_way_the_dialplan_wants_it(string text, string country, DialFormat format, string exten)
    {
        NumberNormalizer.Format(NumberNormalizer.Normalize(text, country), format, country).Should().Be(exten);
    }

    [Fact]
    public void Inbound_rules_rewrite_what_a_trunk_sends_before_it_is_normalised()
    {
        // A trunk that sends ten national digits without the trunk prefix, and one that adds a "9" line prefix.
        IReadOnlyList<(Regex, string)> rules =
        [
            (new Regex(@"^9(\d{11})$"), "$1"),
            (new Regex(@"^(\d{10})$"), "+7$1"),
        ];

        NumberNormalizer.Normalize("9161234567", "DE", rules: rules).Value.Should().Be("+79161234567");
        NumberNormalizer.Normalize("979161234567", "RU", rules: rules).Value.Should().Be("+79161234567");
        NumberNormalizer.Normalize("+14155551234", "RU", rules: rules).Value.Should().Be("+14155551234");
        NumberNormalizer.Normalize("9161234567", "DE").Value.Should().Be("+499161234567", "without the rule it is a German number");
    }

    [Fact]
    public void The_originate_path_uses_the_pbx_dial_format_and_its_own_country()
    {
        var global = new PbxOptions { DefaultCountry = "RU" };
        NumberNormalizer.ForDialling("8 (916) 123-45-67", global, new AsteriskPbxOptions()).Should().Be("+79161234567");
        NumberNormalizer.ForDialling("+7 916 123 45 67", global, new AsteriskPbxOptions { DialFormat = DialFormat.National }).Should().Be("89161234567");
        NumberNormalizer.ForDialling("(415) 555-1234", global, new AsteriskPbxOptions { DefaultCountry = "US", DialFormat = DialFormat.Digits }).Should().Be("14155551234");
        NumberNormalizer.ForDialling("101", global, new AsteriskPbxOptions { DialFormat = DialFormat.National }).Should().Be("101");
        NumberNormalizer.ForDialling("+1-415-555-1234 x12", global, new AsteriskPbxOptions()).Should().Be("+14155551234");
        NumberNormalizer.ForDialling("not a number", global, new AsteriskPbxOptions()).Should().BeNull();
        NumberNormalizer.ForDialling("8 (916) 123-45-67", new PbxOptions(), new AsteriskPbxOptions()).Should().Be("89161234567", "without a default country the digits go as they are");
    }

    [Fact]
    public void Unknown_countries_and_bad_inbound_rules_are_named_in_the_settings_problems()
    {
        var options = new PbxOptions { DefaultCountry = "XX", MaxExtensionLength = 0 };
        options.Asterisk["office"] = new AsteriskPbxOptions
        {
            Username = "u", Secret = "s", DefaultCountry = "Russia",
            InboundRules = [new NumberRule { Pattern = "(", Replacement = "" }],
        };

        var problems = options.Problems();
        problems.Should().Contain(p => p.Contains("Switchboard:Pbx:DefaultCountry 'XX'"));
        problems.Should().Contain(p => p.Contains("MaxExtensionLength"));
        problems.Should().Contain(p => p.Contains("Switchboard:Pbx:Asterisk:office:DefaultCountry 'Russia'"));
        problems.Should().Contain(p => p.Contains("Switchboard:Pbx:Asterisk:office:InboundRules:0:Pattern"));
        new PbxOptions { DefaultCountry = "ru" }.Problems().Should().BeEmpty();
    }
}
