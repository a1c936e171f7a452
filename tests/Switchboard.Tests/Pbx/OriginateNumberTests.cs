using Microsoft.Extensions.DependencyInjection;
using Switchboard.Emulator;
using Switchboard.Pbx;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Pbx;

/// <summary>The click-to-call's number goes through the normaliser into the Originate's Exten, in the PBX's dial format.</summary>
public sealed class OriginateNumberTests
{
    private const string RecordedCallId = "externalCall.89350264e026dace3f2b14d1f438257c.1773236989";
    private const long UserOf101 = 2;

    [Fact]
    public async Task A_national_number_is_dialled_in_the_pbx_dial_format_and_its_extension_suffix_is_left_out()
    {
        await using var asterisk = TranscriptAsterisk.Start("c2c-answered.ami", RecordedCallId);
        await using var lab = await StartAsync(asterisk, "National");

        var click = await lab.Emulator.SendClickToCallAsync(new ClickToCall { UserId = UserOf101, PhoneNumber = "(415) 555-1234 x12" });
        click.Deliveries.Single().Status.Should().Be(200);
        await asterisk.Replayed.Task.WaitAsync(TimeSpan.FromSeconds(20));

        asterisk.Actions.Single(a => a.Name == "Originate").Fields
            .Should().Contain(new KeyValuePair<string, string>("Exten", "14155551234"));
    }

    [Fact]
    public async Task A_number_that_cannot_be_normalised_is_finished_484_naming_it_and_the_pbx_is_not_asked()
    {
        await using var asterisk = TranscriptAsterisk.Start("c2c-answered.ami", RecordedCallId);
        await using var lab = await StartAsync(asterisk, "E164");

        var click = await lab.Emulator.SendClickToCallAsync(new ClickToCall { UserId = UserOf101, PhoneNumber = "555-1234" });
        click.Deliveries.Single().Status.Should().Be(200);
        await TranscriptReplayTests.FinishedAsync(lab, click.CallId!);

        var finish = lab.Emulator.State.FindCall(click.CallId!)!.FinishParameters!;
        finish["STATUS_CODE"].Should().Be("484");
        finish["FAILED_REASON"].Should().Contain("555-1234");
        asterisk.Actions.Should().NotContain(a => a.Name == "Originate");
    }

    private static async Task<PortalLab> StartAsync(TranscriptAsterisk asterisk, string dialFormat)
    {
        var (user, secret) = TranscriptAsterisk.Credentials;
        var lab = await PortalLab.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Switchboard:Pbx:DefaultCountry"] = "US",
            ["Switchboard:Pbx:Asterisk:lab:Host"] = "127.0.0.1",
            ["Switchboard:Pbx:Asterisk:lab:Port"] = asterisk.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Switchboard:Pbx:Asterisk:lab:Username"] = user,
            ["Switchboard:Pbx:Asterisk:lab:Secret"] = secret,
            ["Switchboard:Pbx:Asterisk:lab:DialFormat"] = dialFormat,
        });
        await PortalLab.WaitForSetupAsync(lab.Server, 1);
        var pbx = lab.Server.Services.GetRequiredService<PbxRegistry>().Connectors.Single();
        await PortalLab.WaitUntilAsync(() => pbx.IsReady, "the PBX is connected");
        return lab;
    }
}
