using Switchboard.Emulator;

namespace Switchboard.Tests.Infrastructure;

/// <summary>
/// The OAuth server every test server proves its installs at (https://apidocs.bitrix24.com/settings/oauth/index.html): one portal emulator for
/// the test process, which also answers for each <see cref="TestPortal"/> (registered when the portal
/// is created), so a test portal's install is proven as a real one is, and a made-up one is refused.
/// </summary>
public static class TestOAuth
{
    private static readonly Lazy<PortalEmulator> Server = new(() =>
    {
        var emulator = new PortalEmulator(new EmulatorOptions { Url = "http://127.0.0.1:0" });
        emulator.StartAsync().GetAwaiter().GetResult();
        return emulator;
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    public static PortalEmulator Emulator => Server.Value;

    /// <summary>The settings that make a server ask this OAuth server with the emulator's app credentials.</summary>
    public static Dictionary<string, string?> Settings() => new()
    {
        ["Switchboard:Bitrix24:ClientId"] = Emulator.Options.ClientId,
        ["Switchboard:Bitrix24:ClientSecret"] = Emulator.Options.ClientSecret,
        ["Switchboard:Bitrix24:OAuthServer"] = Emulator.BaseAddress.ToString(),
        ["Switchboard:Bitrix24:AllowInsecureHttp"] = "true",
        ["Switchboard:Bitrix24:AllowedNetworks:0"] = "127.0.0.0/8",
    };

    /// <summary>The same as <c>--Key=Value</c> arguments, for a server started as a child process.</summary>
    public static string[] Arguments() => [.. Settings().Select(kv => $"--{kv.Key}={kv.Value}")];

    /// <summary>Makes <paramref name="portal"/>'s refresh token one the OAuth server grants for it.</summary>
    public static void Register(TestPortal portal)
    {
        ArgumentNullException.ThrowIfNull(portal);
        Emulator.RegisterPortalGrant(portal.MemberId, new Uri(portal.ClientEndpoint), portal.AccessToken, portal.RefreshToken);
    }
}
