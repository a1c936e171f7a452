using Microsoft.Extensions.Options;
using Switchboard.Bitrix24.Events;
using Switchboard.Portals;

namespace Switchboard.Tests.Portals;

public sealed class InstallPolicyWildcardTests
{
    private static InstallPolicy Policy(params string[] allowed) =>
        new(new FixedMonitor(new InstallOptions { AllowedDomains = allowed }));

    private static EventAuth Install(string domain) => new() { Domain = domain, ClientEndpoint = $"https://{domain}/rest/" };

    [Theory]
    [InlineData("crm.example.org")]
    [InlineData("acme.bitrix24.com")]
    [InlineData("10.20.0.5")]
    public void A_lone_star_in_AllowedDomains_allows_every_domain(string domain)
    {
        Policy("*").Check(Install(domain)).Should().BeNull();
        Policy("intranet.example.com, *").Check(Install(domain)).Should().BeNull("a list with * in it allows every domain too");
    }

    [Fact]
    public void A_lone_star_still_requires_an_https_client_endpoint_on_the_portals_own_host()
    {
        Policy("*").Check(new EventAuth { Domain = "crm.example.org", ClientEndpoint = "https://evil.example.net/rest/" })
            .Should().Contain("own host");
        Policy("*").Check(new EventAuth { Domain = "crm.example.org", ClientEndpoint = "http://crm.example.org/rest/" })
            .Should().Contain("https");
    }

    [Fact]
    public void A_star_inside_a_pattern_is_not_a_wildcard_for_everything()
    {
        Policy("*example.com").Check(Install("crm.example.org")).Should().NotBeNull();
        Policy("*.example.com").Check(Install("example.com")).Should().NotBeNull();
    }

    private sealed class FixedMonitor(InstallOptions value) : IOptionsMonitor<InstallOptions>
    {
        public InstallOptions CurrentValue => value;

        public InstallOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<InstallOptions, string?> listener) => null;
    }
}
