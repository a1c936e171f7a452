using Switchboard.Asterisk.Events;
using Switchboard.Asterisk.Session;
using Switchboard.AsteriskEmulator.Tests.Support;
using Xunit.Abstractions;

namespace Switchboard.AsteriskEmulator.Tests;

/// <summary>The AMI library's own client (Switchboard.Asterisk AmiConnection) works against the emulator: MD5 login, lists, Originate, typed events.</summary>
public sealed class AmiConnectionTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_library_client_logs_in_with_md5_originates_and_reads_the_typed_call_events()
    {
        await using var emulator = await Emulators.StartAsync(output: output);
        await using var ami = await AmiConnection.OpenAsync(new AmiConnectionOptions { Port = emulator.Port, Username = "switchboard", Secret = "s3cret", AuthType = AmiAuthType.Md5 }, CancellationToken.None);

        var originate = await ami.SendAsync(new AmiAction("Originate")
            .Add("Channel", "Local/101@phones").Add("Context", "from-internal").Add("Exten", "+14155551234").Add("Priority", "1")
            .Add("Async", "true").Add("Variable", "SB_CALL_ID=abc").Add("ChannelId", "sb-lib-1"), CancellationToken.None);
        var events = new List<AmiEvent>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await foreach (var e in ami.Events.ReadAllAsync(timeout.Token))
        {
            events.Add(e);
            if (e is HangupEvent h && h.Snapshot.Uniqueid == "sb-lib-1")
            {
                break;
            }
        }

        var list = await ami.SendAsync(new AmiAction("CoreShowChannels"), CancellationToken.None);

        originate.Text.Should().Be("Originate successfully queued");
        ami.AmiVersion.Should().Be("11.0.0");
        events.OfType<OriginateResponseEvent>().Single().Should().Match<OriginateResponseEvent>(r => r.Success && r.Reason == 4 && r.Uniqueid == "sb-lib-1");
        events.OfType<VarSetEvent>().Where(v => v.Variable == "SB_CALL_ID").Should().HaveCount(2, "the variable is set on both halves of the Local channel");
        events.OfType<DialEndEvent>().Select(d => d.DialStatus).Should().Equal("ANSWER", "ANSWER");
        events.OfType<BridgeEnterEvent>().Should().HaveCount(2);
        events.OfType<NewchannelEvent>().Should().OnlyContain(n => n.Snapshot.Linkedid == "sb-lib-1");
        list.Items.Should().BeEmpty("the call has ended");
        list.ListComplete!["ListItems"].Should().Be("0");
    }

    [Fact]
    public async Task A_synchronous_originate_answers_once_the_phone_answered_and_fails_for_a_busy_one()
    {
        await using var emulator = await Emulators.StartAsync(output: output);
        await using var ami = await AmiConnection.OpenAsync(new AmiConnectionOptions { Port = emulator.Port, Username = "switchboard", Secret = "s3cret", AuthType = AmiAuthType.Plain, Events = "off" }, CancellationToken.None);

        var ok = await ami.SendAsync(new AmiAction("Originate").Add("Channel", "Local/101@phones").Add("Context", "from-internal").Add("Exten", "+14155551234").Add("Priority", "1"), CancellationToken.None);
        var busy = await ami.SendAsync(new AmiAction("Originate").Add("Channel", "Local/102@phones").Add("Context", "from-internal").Add("Exten", "+14155551234").Add("Priority", "1"), CancellationToken.None);

        ok.IsSuccess.Should().BeTrue();
        ok.Text.Should().Be("Originate successfully queued");
        busy.IsSuccess.Should().BeFalse();
        busy.Text.Should().Be("Originate failed");
        await emulator.WaitForIdleAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
    }
}
