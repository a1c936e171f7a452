using Switchboard.AsteriskEmulator.Tests.Support;
using Xunit.Abstractions;

namespace Switchboard.AsteriskEmulator.Tests;

/// <summary>Logins, actions and event control, answered as session-actions.ami shows a real Asterisk 22.10.1 answer them.</summary>
public sealed class SessionTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Banner_and_plain_login_answer_as_the_transcript_then_FullyBooted_and_SuccessfulAuth()
    {
        await using var emulator = await Emulators.StartAsync(output: output);
        await using var client = await RawAmiClient.ConnectAsync(emulator.Port);
        client.Banner.Should().Be("Asterisk Call Manager/11.0.0");

        var answer = await client.ActionAsync("Login", ("Username", "switchboard"), ("Secret", "s3cret"));

        answer.Response.Should().Be("Success");
        answer["Message"].Should().Be("Authentication accepted");
        var booted = await client.WaitForAsync(m => m.EventName == "FullyBooted");
        booted["Status"].Should().Be("Fully Booted");
        var auth = await client.WaitForAsync(m => m.EventName == "SuccessfulAuth");
        auth["AccountID"].Should().Be("switchboard");
        client.Received.Select(m => m.EventName ?? m.Response).Should().StartWith(["Success", "FullyBooted", "SuccessfulAuth"]);
    }

    [Fact]
    public async Task Md5_login_with_the_challenge_is_accepted_and_events_off_sends_no_event()
    {
        await using var emulator = await Emulators.StartAsync(output: output);
        await using var client = await RawAmiClient.ConnectAsync(emulator.Port);

        var answer = await client.Md5LoginAsync("s3cret", events: "off");
        var ping = await client.ActionAsync("Ping");
        emulator.StartInboundCall("+79161234567", "74951234567");
        var pong = await client.ActionAsync("Ping");

        answer["Message"].Should().Be("Authentication accepted");
        ping["Ping"].Should().Be("Pong");
        ping["Timestamp"].Should().MatchRegex(@"^\d+\.\d{6}$");
        pong.Response.Should().Be("Success");
        client.Events.Should().BeEmpty("Events: off");
    }

    [Fact]
    public async Task Wrong_secret_answers_Authentication_failed_and_closes_the_socket()
    {
        await using var emulator = await Emulators.StartAsync(output: output);
        await using var client = await RawAmiClient.ConnectAsync(emulator.Port);

        var answer = await client.ActionAsync("Login", ("Username", "switchboard"), ("Secret", "wrong"));
        await client.Closed.Task.WaitAsync(TimeSpan.FromSeconds(10));

        answer.Response.Should().Be("Error");
        answer["Message"].Should().Be("Authentication failed");
    }

    [Fact]
    public async Task Wrong_md5_key_is_refused()
    {
        await using var emulator = await Emulators.StartAsync(output: output);
        await using var client = await RawAmiClient.ConnectAsync(emulator.Port);

        var answer = await client.Md5LoginAsync("not-the-secret");

        answer["Message"].Should().Be("Authentication failed");
    }

    [Fact]
    public async Task Actions_before_login_are_denied_and_the_session_stays_open()
    {
        await using var emulator = await Emulators.StartAsync(output: output);
        await using var client = await RawAmiClient.ConnectAsync(emulator.Port);

        var ping = await client.ActionAsync("Ping");
        var originate = await client.ActionAsync("Originate", ("Channel", "Local/101@phones"), ("Context", "from-internal"), ("Exten", "+14155551234"), ("Priority", "1"));
        var login = await client.ActionAsync("Login", ("Username", "switchboard"), ("Secret", "s3cret"));

        ping["Message"].Should().Be("Permission denied");
        originate["Message"].Should().Be("Permission denied");
        login["Message"].Should().Be("Authentication accepted");
        emulator.Channels().Should().BeEmpty();
    }

    [Fact]
    public async Task Unknown_action_command_and_logoff_answer_as_the_transcript()
    {
        await using var emulator = await Emulators.StartAsync(output: output);
        await using var client = await RawAmiClient.LoginAsync(emulator.Port, "off");

        var unknown = await client.ActionAsync("NoSuchAction");
        var version = await client.ActionAsync("Command", ("Command", "core show version"));
        var nonsense = await client.ActionAsync("Command", ("Command", "core frobnicate"));
        var bye = await client.ActionAsync("Logoff");
        await client.Closed.Task.WaitAsync(TimeSpan.FromSeconds(10));

        unknown.Response.Should().Be("Error");
        unknown["Message"].Should().Be("Invalid/unknown command: NoSuchAction. Use Action: ListCommands to show available commands.");
        version["Message"].Should().Be("Command output follows");
        version["Output"].Should().StartWith("Asterisk 22.10.1 built by");
        nonsense.Response.Should().Be("Error");
        nonsense["Output"].Should().Be("No such command 'core frobnicate' (type 'core show help core frobnicate' for other possible commands)");
        bye.Response.Should().Be("Goodbye");
        bye["Message"].Should().Be("Thanks for all the fish.");
    }

    [Fact]
    public async Task Originate_to_a_missing_extension_is_refused_sync_or_async_and_creates_nothing()
    {
        await using var emulator = await Emulators.StartAsync(output: output);
        await using var client = await RawAmiClient.LoginAsync(emulator.Port);

        var sync = await client.ActionAsync("Originate", ("Channel", "Foo/bar"), ("Context", "from-internal"), ("Exten", "nope"), ("Priority", "1"));
        var async = await client.ActionAsync("Originate", ("Channel", "Local/101@phones"), ("Context", "from-trunk"), ("Exten", "00000"), ("Priority", "1"), ("Async", "true"));
        var noChannel = await client.ActionAsync("Originate", ("Context", "from-internal"), ("Exten", "+14155551234"), ("Priority", "1"));

        sync["Message"].Should().Be("Extension does not exist.");
        async["Message"].Should().Be("Extension does not exist.");
        noChannel["Message"].Should().Be("Channel not specified");
        client.Events.Should().NotContain(e => e.EventName == "Newchannel");
    }

    [Fact]
    public async Task CoreShowChannels_and_Status_list_a_live_call_with_its_ActionID_on_every_item()
    {
        await using var emulator = await Emulators.StartAsync(speed: 2, output: output);
        await using var client = await RawAmiClient.LoginAsync(emulator.Port, "off");
        var call = emulator.StartInboundCall("+79161234567", "74951234567");
        await WaitUntilAsync(() => emulator.Channels().Count(c => c.BridgeId.Length > 0) == 2);

        await client.SendAsync(("Action", "CoreShowChannels"), ("ActionID", "list-1"));
        var complete = await client.WaitForAsync(m => m.EventName == "CoreShowChannelsComplete");
        await client.SendAsync(("Action", "Status"), ("ActionID", "list-2"));
        var statusComplete = await client.WaitForAsync(m => m.EventName == "StatusComplete");

        var ack = client.Received.First(m => m.ActionId == "list-1");
        ack["EventList"].Should().Be("start");
        ack["Message"].Should().Be("Channels will follow");
        var items = client.Received.Where(m => m.EventName == "CoreShowChannel").ToList();
        items.Should().OnlyContain(i => i.ActionId == "list-1");
        items.Should().HaveCount(int.Parse(complete["ListItems"]!, System.Globalization.CultureInfo.InvariantCulture));
        items.Should().OnlyContain(i => i["Linkedid"] == call.Linkedid, "every leg shares the first channel's Linkedid");
        items.Should().Contain(i => i["Application"] == "Dial" && i["BridgeId"] != "" && i["Context"] == "from-trunk");
        items.Should().OnlyContain(i => System.Text.RegularExpressions.Regex.IsMatch(i["Duration"]!, @"^\d\d:\d\d:\d\d$"));
        complete["EventList"].Should().Be("Complete");
        client.Received.Where(m => m.EventName == "Status").Should().OnlyContain(i => i.ActionId == "list-2").And.HaveCount(items.Count);
        statusComplete["Items"].Should().Be(statusComplete["ListItems"]);

        emulator.HangupAll();
        await call.Ended.WaitAsync(TimeSpan.FromSeconds(20));
        emulator.Channels().Should().BeEmpty();
    }

    [Fact]
    public async Task Events_action_switches_classes_and_Filter_follows_the_legacy_rules()
    {
        await using var emulator = await Emulators.StartAsync(output: output);
        await using var onlyCalls = await RawAmiClient.LoginAsync(emulator.Port, "off");
        await using var filtered = await RawAmiClient.LoginAsync(emulator.Port);
        await using var both = await RawAmiClient.LoginAsync(emulator.Port);

        var on = await onlyCalls.ActionAsync("Events", ("EventMask", "call"));
        (await filtered.ActionAsync("Filter", ("Operation", "Add"), ("Filter", "!Event: (VarSet|Newexten)")))["Message"].Should().Be("Filter Added Successfully");
        await both.ActionAsync("Filter", ("Filter", @"Event: (Hangup|VarSet)\s"));
        await both.ActionAsync("Filter", ("Filter", "!Variable: DIAL"));
        var call = emulator.StartInboundCall("+79161234567", "74951234567");
        await call.Ended.WaitAsync(TimeSpan.FromSeconds(20));
        await onlyCalls.WaitForAsync(m => m.EventName == "Hangup", skip: 5);
        await both.WaitForAsync(m => m.EventName == "Hangup", skip: 5);

        on["Events"].Should().Be("On");
        onlyCalls.Events.Should().Contain(e => e.EventName == "Newchannel").And.NotContain(e => e.EventName == "VarSet" || e.EventName == "Newexten" || e.EventName == "Cdr");
        filtered.Events.Should().Contain(e => e.EventName == "Hangup").And.NotContain(e => e.EventName == "VarSet" || e.EventName == "Newexten");
        both.Events.Where(e => e.EventName is not ("FullyBooted" or "SuccessfulAuth")).Select(e => e.EventName).Distinct().Should().BeEquivalentTo(["Hangup", "VarSet"]);
        both.Events.Should().NotContain(e => e["Variable"] != null && e["Variable"]!.StartsWith("DIAL", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Several_sessions_see_the_same_events_in_the_same_order()
    {
        await using var emulator = await Emulators.StartAsync(output: output);
        await using var first = await RawAmiClient.LoginAsync(emulator.Port);
        await using var second = await RawAmiClient.LoginAsync(emulator.Port);

        var call = emulator.StartInboundCall("+79161234567", "74951234567");
        await call.Ended.WaitAsync(TimeSpan.FromSeconds(20));
        await first.WaitForCallsToEndAsync();
        await second.WaitForCallsToEndAsync();

        static List<string> Calls(RawAmiClient c) => [.. c.Events.Where(e => e.EventName is not ("FullyBooted" or "SuccessfulAuth")).Select(e => e.EventName + " " + e["Channel"] + " " + e["Uniqueid"])];
        Calls(first).Should().Equal(Calls(second));
        Calls(first).Should().HaveCountGreaterThan(50);
    }

    internal static async Task WaitUntilAsync(Func<bool> condition, double seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("The condition did not come true.");
            }

            await Task.Delay(20);
        }
    }
}
