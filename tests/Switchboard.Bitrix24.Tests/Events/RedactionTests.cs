using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Tests.Support;
using static Switchboard.Bitrix24.Tests.Support.FixtureBodies;
using static Switchboard.Bitrix24.Tests.Support.Php;

namespace Switchboard.Bitrix24.Tests.Events;

public sealed class RedactionTests
{
    public static TheoryData<string> EventFixtures() => new(Fixture.Names.Where(n => !n.StartsWith("raw.", StringComparison.Ordinal) && n != "odd.scalars"));

    [Theory]
    [MemberData(nameof(EventFixtures))]
    public void An_event_printed_with_ToString_shows_no_token(string name)
    {
        var ev = EventBodies.ReadFixture(name);

        var text = ev.ToString();

        text.Should().Contain(ev.GetType().Name).And.Contain("Auth = EventAuth {");
        foreach (var token in AllTokens)
        {
            text.Should().NotContain(token);
        }
    }

    [Theory]
    [MemberData(nameof(EventFixtures))]
    public void Auth_printed_with_ToString_shows_no_token_but_says_which_were_present(string name)
    {
        var auth = EventBodies.ReadFixture(name).Auth;

        var text = auth.ToString();

        foreach (var token in AllTokens)
        {
            text.Should().NotContain(token);
        }

        text.Should().Contain($"MemberId = {auth.MemberId}");
        text.Should().Contain(auth.AccessToken is null ? "AccessToken = (none)" : "AccessToken = (redacted)");
        text.Should().Contain(auth.RefreshToken is null ? "RefreshToken = (none)" : "RefreshToken = (redacted)");
        text.Should().Contain(auth.ApplicationToken is null ? "ApplicationToken = (none)" : "ApplicationToken = (redacted)");
    }

    [Fact]
    public void The_seed_auth_prints_its_portal_and_redacts_all_three_tokens()
    {
        var text = EventBodies.ReadFixture("onexternalcallstart.seed").Auth.ToString();

        text.Should().Be(
            "EventAuth { MemberId = a223c6b9410f85df78e9377d6c4f7213, Domain = some-domain.bitrix24.com, " +
            "ClientEndpoint = https://example.bitrix24.com/rest/, ServerEndpoint = https://oauth.bitrix.info/rest/, " +
            "Status = F, Scope = telephony, UserId = , AccessToken = (redacted), RefreshToken = (redacted), " +
            "ApplicationToken = (redacted) }");
    }

    [Fact]
    public void The_uninstall_auth_says_the_access_and_refresh_tokens_are_absent()
    {
        var text = EventBodies.ReadFixture("onappuninstall").Auth.ToString();

        text.Should().Contain("AccessToken = (none)").And.Contain("RefreshToken = (none)").And.Contain("ApplicationToken = (redacted)");
        text.Should().NotContain(UninstallApplicationToken);
    }

    [Fact]
    public void A_token_that_is_an_empty_string_is_still_not_printed_as_absent_or_as_its_value()
    {
        var auth = new EventAuth { AccessToken = "", ApplicationToken = "t0k3n-v4lue" };

        auth.ToString().Should().Contain("AccessToken = (redacted)").And.NotContain("t0k3n-v4lue");
        auth.HasAccessToken.Should().BeFalse();
    }

    [Fact]
    public void An_untyped_event_prints_neither_its_tokens_nor_its_raw_data()
    {
        // An unknown event's raw data is a tree; printing the event must not dump it (it could carry anything).
        var ev = EventBodies.ReadFields(Map(
            ("event", "ONCRMDEALUPDATE"),
            ("data", Map(("FIELDS", Map(("SECRET", "d4t4-s3cr3t"))))),
            ("auth", Map(("application_token", "a-t0k3n"), ("access_token", "acc-t0k3n"), ("refresh_token", "ref-t0k3n")))));

        var text = ev.ToString();

        text.Should().NotContain("d4t4-s3cr3t").And.NotContain("a-t0k3n").And.NotContain("acc-t0k3n").And.NotContain("ref-t0k3n");
    }

    [Fact]
    public void A_field_problem_names_the_field_but_not_the_bad_value()
    {
        var ev = EventBodies.ReadFields(Map(
            ("event", "ONVOXIMPLANTCALLSTART"),
            ("data", Map(("USER_ID", "s7p6eclrvim9da28dt9ch94ekreb52sv")))));

        ev.Problems.Should().ContainSingle().Which.ToString().Should().Contain("data[USER_ID]").And.NotContain("s7p6eclrvim9da28dt9ch94ekreb52sv");
        ev.ToString().Should().NotContain("s7p6eclrvim9da28dt9ch94ekreb52sv");
    }
}
