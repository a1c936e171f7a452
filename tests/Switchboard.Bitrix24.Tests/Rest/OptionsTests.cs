using Switchboard.Bitrix24.Rest;

namespace Switchboard.Bitrix24.Tests.Rest;

public sealed class OptionsTests
{
    [Fact]
    public void Defaults_follow_the_documented_limits_and_the_global_oauth_server()
    {
        var o = new Bitrix24RestOptions();

        o.RequestsPerSecond.Should().Be(2);
        o.Burst.Should().Be(50);
        o.OAuthServer.Should().Be(new Uri("https://oauth.bitrix.info/"));
        o.AllowInsecureHttp.Should().BeFalse();
        o.AllowedNetworks.Should().BeEmpty();
    }

    [Fact]
    public void Missing_credentials_and_a_bad_range_are_reported_by_setting_name_without_the_secret()
    {
        var o = new Bitrix24RestOptions { ClientSecret = "", OAuthServer = new Uri("http://oauth.example/") };
        o.AllowedNetworks.Add("10.0.0.0/33");

        var problems = o.Problems();

        problems.Should().Contain(p => p.Contains("Switchboard:Bitrix24:ClientId"));
        problems.Should().Contain(p => p.Contains("Switchboard:Bitrix24:ClientSecret"));
        problems.Should().Contain(p => p.Contains("Switchboard:Bitrix24:OAuthServer"));
        problems.Should().Contain(p => p.Contains("10.0.0.0/33"));
        new Bitrix24RestOptions { ClientId = "a", ClientSecret = "b" }.Problems().Should().BeEmpty();
    }

    [Fact]
    public void A_deleted_portal_is_not_worth_retrying_although_it_comes_as_a_500()
    {
        RestError.FromCode("PORTAL_DELETED", "Portal was deleted", 500).IsTransient.Should().BeFalse();
        RestError.FromCode("INTERNAL_SERVER_ERROR", null, 500).IsTransient.Should().BeTrue();
    }
}
