using System.Net;
using System.Text.Json;
using Switchboard.Cli;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Cli;

/// <summary>
/// A journal written by a real server over HTTP, still running (SQLite in WAL lets the CLI read
/// beside it): two portals, four call events of portal A, one of portal B, then B uninstalled.
/// </summary>
public sealed class CliJournal : IAsyncLifetime
{
    public SwitchboardServer Server { get; private set; } = null!;

    public string DataDirectory => Server.DataDirectory!;

    public TestPortal A { get; } = TestPortal.Create("acme.bitrix24.com");

    public TestPortal B { get; } = TestPortal.Create("beta.bitrix24.eu");

    public string A1 { get; } = Bitrix24Events.NewCallId();

    public string A2 { get; } = Bitrix24Events.NewCallId();

    public string A3 { get; } = Bitrix24Events.NewCallId();

    public string B1 { get; } = Bitrix24Events.NewCallId();

    /// <summary>Journal ids from the receipts, in the order posted.</summary>
    public List<long> Ids { get; } = [];

    /// <summary>Journal id of A1's ONEXTERNALCALLSTART.</summary>
    public long A1StartId => Ids[2];

    /// <summary>Every token the portals sent; none may appear in anything the CLI prints.</summary>
    public IReadOnlyList<string> Secrets => [A.ApplicationToken, A.AccessToken, A.RefreshToken, B.ApplicationToken, B.AccessToken, B.RefreshToken];

    public async Task InitializeAsync()
    {
        Server = await SwitchboardServer.StartAsync();
        foreach (var body in new[]
        {
            Bitrix24Events.Install(A),
            Bitrix24Events.Install(B),
            Bitrix24Events.ExternalCallStart(A, A1),
            Bitrix24Events.ExternalCallStart(A, A2),
            Bitrix24Events.ExternalCallStart(A, A3),
            Bitrix24Events.CallEnd(A, A1),
            Bitrix24Events.ExternalCallStart(B, B1),
            Bitrix24Events.Uninstall(B),
        })
        {
            using var response = await Server.PostFormAsync(body);
            var text = await response.Content.ReadAsStringAsync();
            response.StatusCode.Should().Be(HttpStatusCode.OK, text);
            using var receipt = JsonDocument.Parse(text);
            Ids.Add(receipt.RootElement.GetProperty("id").GetInt64());
        }
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary><c>switchboard events …</c> and <c>switchboard portals …</c> against a SQLite journal a server wrote.</summary>
public sealed class CliTests(CliJournal journal) : IClassFixture<CliJournal>
{
    private Task<CliRun> RunAsync(params string[] args) => CliRun.RunAsync([.. args, "--data", journal.DataDirectory]);

    private void ShouldNotLeakTokens(CliRun run)
    {
        foreach (var secret in journal.Secrets)
        {
            run.Output.Should().NotContain(secret);
            run.Error.Should().NotContain(secret);
        }
    }

    // ---- events list ----------------------------------------------------------------------------

    [Fact]
    public async Task Events_list_prints_a_table_newest_first_with_event_name_portal_and_call_id()
    {
        var run = await RunAsync("events", "list");

        run.ExitCode.Should().Be(0, run.ToString());
        var lines = run.Output.Split('\n');
        int Row(string text) => Array.FindIndex(lines, l => l.Contains(text, StringComparison.Ordinal));
        Row(journal.B1).Should().BeGreaterThan(0, "every CALL_ID is printed whole, on one line: {0}", run.Output);
        Row(journal.A3).Should().BeGreaterThan(Row(journal.B1), "newest first");
        Row(journal.A2).Should().BeGreaterThan(Row(journal.A3));
        Row("ONAPPUNINSTALL").Should().BeLessThan(Row(journal.B1));
        Row("ONVOXIMPLANTCALLEND").Should().BeLessThan(Row(journal.A3));
        lines[Row(journal.B1)].Should().Contain("ONEXTERNALCALLSTART").And.Contain(journal.B.MemberId);
        lines[Row(journal.A2)].Should().Contain("ONEXTERNALCALLSTART").And.Contain(journal.A.MemberId);
        run.Output.Should().Contain($"{journal.Ids.Count} event(s).");
        run.Output.Should().NotContain("\u001b[", "output that is not a terminal gets no ANSI escapes");
        run.Error.Should().BeEmpty();
        ShouldNotLeakTokens(run);
    }

    [Fact]
    public async Task Events_list_as_json_has_every_field_of_each_event_and_no_token()
    {
        var events = (await RunAsync("events", "list", "--json")).Json().EnumerateArray().ToList();

        events.Select(e => e.GetProperty("id").GetInt64()).Should().Equal(journal.Ids.AsEnumerable().Reverse());
        var start = events.Single(e => e.GetProperty("id").GetInt64() == journal.A1StartId);
        start.GetProperty("event").GetString().Should().Be("ONEXTERNALCALLSTART");
        start.GetProperty("memberId").GetString().Should().Be(journal.A.MemberId);
        start.GetProperty("callId").GetString().Should().Be(journal.A1);
        start.GetProperty("handlerId").GetInt64().Should().Be(1055);
        start.GetProperty("contentType").GetString().Should().Be("application/x-www-form-urlencoded");
        start.GetProperty("dedupKey").GetString().Should().MatchRegex("^[0-9a-f]{64}$");
        start.GetProperty("receivedAt").GetDateTimeOffset().Should().BeCloseTo(DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5));
        start.GetProperty("sentAt").GetDateTimeOffset().Should().BeAfter(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var body = start.GetProperty("body").GetString();
        body.Should().Contain(Uri.EscapeDataString(journal.A1)).And.Contain(journal.A.MemberId);
        events.Single(e => e.GetProperty("event").GetString() == "ONAPPINSTALL" && e.GetProperty("memberId").GetString() == journal.A.MemberId)
            .GetProperty("callId").ValueKind.Should().Be(JsonValueKind.Null);
    }

    [Fact]
    public async Task Limit_keeps_the_newest_events()
    {
        var events = (await RunAsync("events", "list", "--limit", "2", "--json")).Json().EnumerateArray();
        var table = await RunAsync("events", "list", "--limit", "3");

        events.Select(e => e.GetProperty("id").GetInt64()).Should().Equal(journal.Ids[^1], journal.Ids[^2]);
        table.Output.Should().Contain("3 event(s).").And.Contain(journal.B1).And.Contain(journal.A1).And.NotContain(journal.A3);
    }

    [Theory]
    [InlineData("onexternalcallstart")]
    [InlineData("OnExternalCallStart")]
    [InlineData("ONEXTERNALCALLSTART")]
    public async Task Event_filter_matches_the_event_name_in_any_case(string name)
    {
        var events = (await RunAsync("events", "list", "--event", name, "--json")).Json().EnumerateArray().ToList();

        events.Select(e => e.GetProperty("callId").GetString()).Should().Equal(journal.B1, journal.A3, journal.A2, journal.A1);
        events.Should().OnlyContain(e => e.GetProperty("event").GetString() == "ONEXTERNALCALLSTART");
    }

    [Fact]
    public async Task Call_id_filter_finds_every_event_of_that_call()
    {
        var events = (await RunAsync("events", "list", "--call-id", journal.A1, "--json")).Json().EnumerateArray().ToList();

        events.Select(e => e.GetProperty("event").GetString()).Should().Equal("ONVOXIMPLANTCALLEND", "ONEXTERNALCALLSTART");
        events.Should().OnlyContain(e => e.GetProperty("callId").GetString() == journal.A1);
    }

    [Fact]
    public async Task Portal_filter_shows_only_that_portals_events()
    {
        var events = (await RunAsync("events", "list", "--portal", journal.B.MemberId, "--json")).Json().EnumerateArray().ToList();

        events.Select(e => e.GetProperty("event").GetString()).Should().Equal("ONAPPUNINSTALL", "ONEXTERNALCALLSTART", "ONAPPINSTALL");
        events.Should().OnlyContain(e => e.GetProperty("memberId").GetString() == journal.B.MemberId);
    }

    [Fact]
    public async Task Filters_that_match_nothing_print_an_empty_list_and_succeed()
    {
        var json = await RunAsync("events", "list", "--call-id", "externalCall.nothing", "--json");
        var table = await RunAsync("events", "list", "--portal", "0000000000000000000000000000beef");

        json.Json().GetArrayLength().Should().Be(0);
        table.ExitCode.Should().Be(0);
        table.Output.Should().Contain("0 event(s).");
    }

    // ---- events show ----------------------------------------------------------------------------

    [Fact]
    public async Task Events_show_prints_the_event_and_its_decoded_fields_without_tokens()
    {
        var run = await RunAsync("events", "show", journal.A1StartId.ToString(System.Globalization.CultureInfo.InvariantCulture));

        run.ExitCode.Should().Be(0, run.ToString());
        run.Output.Should().Contain("ONEXTERNALCALLSTART")
            .And.Contain(journal.A1, "the CALL_ID is printed whole")
            .And.Contain(journal.A.MemberId)
            .And.Contain("data[PHONE_NUMBER]").And.Contain("+14155551234", "fields are shown decoded, not percent-encoded")
            .And.Contain("data[CRM_ENTITY_TYPE]").And.Contain("CONTACT")
            .And.Contain("auth[domain]").And.Contain(journal.A.Domain)
            .And.Contain("https://acme.bitrix24.com/rest/");
        run.Output.Should().NotContain("%2B14155551234");
        ShouldNotLeakTokens(run);
    }

    [Fact]
    public async Task Events_show_as_json_has_the_event_and_its_redacted_body()
    {
        var e = (await RunAsync("events", "show", journal.A1StartId.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json")).Json();

        e.GetProperty("id").GetInt64().Should().Be(journal.A1StartId);
        e.GetProperty("event").GetString().Should().Be("ONEXTERNALCALLSTART");
        e.GetProperty("callId").GetString().Should().Be(journal.A1);
        e.GetProperty("memberId").GetString().Should().Be(journal.A.MemberId);
        e.GetProperty("body").GetString().Should().Contain("auth%5Bmember_id%5D=" + journal.A.MemberId);
    }

    [Fact]
    public async Task Events_show_of_an_id_not_in_the_journal_exits_1_and_says_so_on_stderr()
    {
        var run = await RunAsync("events", "show", "999999");

        run.ExitCode.Should().Be(SwitchboardCli.NotFound).And.Be(1);
        run.Error.Should().Contain("999999");
        run.Output.Should().BeEmpty();
    }

    // ---- portals list ---------------------------------------------------------------------------

    [Fact]
    public async Task Portals_list_shows_each_portal_its_state_and_whether_tokens_are_stored()
    {
        var run = await RunAsync("portals", "list");

        run.ExitCode.Should().Be(0, run.ToString());
        var lines = run.Output.Split('\n');
        var a = lines.Single(l => l.Contains(journal.A.MemberId, StringComparison.Ordinal));
        var b = lines.Single(l => l.Contains(journal.B.MemberId, StringComparison.Ordinal));
        a.Should().Contain(journal.A.Domain).And.Contain(" installed").And.Contain("stored");
        b.Should().Contain(journal.B.Domain).And.Contain("uninstalled").And.Contain("none");
        run.Output.Should().Contain("2 portal(s).");
        ShouldNotLeakTokens(run);
    }

    [Fact]
    public async Task Portals_list_as_json_has_domain_state_and_token_presence_but_no_token_or_hash()
    {
        var run = await RunAsync("portals", "list", "--json");
        var portals = run.Json().EnumerateArray().ToDictionary(p => p.GetProperty("memberId").GetString()!);

        var a = portals[journal.A.MemberId];
        a.GetProperty("domain").GetString().Should().Be(journal.A.Domain);
        a.GetProperty("state").GetString().Should().Be("installed");
        a.GetProperty("hasOAuthTokens").GetBoolean().Should().BeTrue();
        a.GetProperty("clientEndpoint").GetString().Should().Be(journal.A.ClientEndpoint);
        a.GetProperty("uninstalledAt").ValueKind.Should().Be(JsonValueKind.Null);
        var b = portals[journal.B.MemberId];
        b.GetProperty("domain").GetString().Should().Be(journal.B.Domain);
        b.GetProperty("state").GetString().Should().Be("uninstalled");
        b.GetProperty("hasOAuthTokens").GetBoolean().Should().BeFalse();
        b.GetProperty("uninstalledAt").GetDateTimeOffset().Should().BeCloseTo(DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5));
        portals.Should().HaveCount(2);
        a.EnumerateObject().Select(p => p.Name).Where(n => n.Contains("token", StringComparison.OrdinalIgnoreCase) || n.Contains("hash", StringComparison.OrdinalIgnoreCase))
            .Should().Equal("hasOAuthTokens");
        ShouldNotLeakTokens(run);
    }

    // ---- secrets everywhere ---------------------------------------------------------------------

    public static TheoryData<string> Commands => new()
    {
        "events list",
        "events list --json",
        "events list --limit 10000 --json",
        "events show 1",
        "events show 1 --json",
        "events show 2",
        "events show 8",
        "events show 8 --json",
        "portals list",
        "portals list --json",
    };

    [Theory]
    [MemberData(nameof(Commands))]
    public async Task No_command_prints_an_application_access_or_refresh_token(string command)
    {
        var run = await RunAsync(command.Split(' '));

        run.ExitCode.Should().Be(0, run.ToString());
        run.Output.Should().NotBeEmpty();
        ShouldNotLeakTokens(run);
    }

    // ---- errors ---------------------------------------------------------------------------------

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("10001")]
    public async Task A_limit_out_of_range_exits_2_with_a_message(string limit)
    {
        var run = await RunAsync("events", "list", "--limit", limit);

        run.ExitCode.Should().Be(SwitchboardCli.UsageError, run.ToString());
        run.Error.Should().Contain("--limit");
        run.Output.Should().BeEmpty();
    }

    [Fact]
    public async Task A_limit_out_of_range_is_a_usage_error_even_without_a_journal()
    {
        using var empty = new TempDirectory();

        var run = await CliRun.RunAsync("events", "list", "--limit", "0", "--data", empty.Path);

        run.ExitCode.Should().Be(SwitchboardCli.UsageError, run.ToString());
        run.Error.Should().Contain("--limit");
    }

    [Theory]
    [InlineData("events list")]
    [InlineData("events show 1")]
    [InlineData("portals list --json")]
    public async Task Without_a_journal_at_the_data_directory_the_command_exits_3_naming_the_path_and_creates_nothing(string command)
    {
        using var empty = new TempDirectory();
        var missing = Path.Combine(empty.Path, "not-here");

        var run = await CliRun.RunAsync([.. command.Split(' '), "--data", missing]);

        run.ExitCode.Should().Be(SwitchboardCli.StoreUnavailable).And.Be(3);
        run.Error.Should().Contain(Path.Combine(missing, "switchboard.db"));
        run.Output.Should().BeEmpty();
        Directory.Exists(missing).Should().BeFalse("reading must not create an empty journal");
    }

    [Theory]
    [InlineData("evnts list")]
    [InlineData("events lst")]
    [InlineData("events list --bogus")]
    [InlineData("events list --limit many")]
    [InlineData("events show abc")]
    [InlineData("events show")]
    [InlineData("portals list extra")]
    public async Task An_unknown_command_option_or_bad_value_exits_with_the_usage_code_and_a_message(string command)
    {
        var run = await RunAsync(command.Split(' '));

        run.ExitCode.Should().Be(SwitchboardCli.UsageError, run.ToString());
        run.Error.Should().NotBeEmpty();
    }

    // ---- a stopped server ----------------------------------------------------------------------

    [Fact]
    public async Task The_journal_of_a_stopped_server_reads_the_same()
    {
        using var data = new TempDirectory();
        var portal = TestPortal.Create();
        var callId = Bitrix24Events.NewCallId();
        await using (var server = await SwitchboardServer.StartAsync(dataDirectory: data.Path))
        {
            (await server.PostFormAsync(Bitrix24Events.Install(portal))).StatusCode.Should().Be(HttpStatusCode.OK);
            (await server.PostFormAsync(Bitrix24Events.ExternalCallStart(portal, callId))).StatusCode.Should().Be(HttpStatusCode.OK);
        }

        var events = (await CliRun.RunAsync("events", "list", "--json", "--data", data.Path)).Json().EnumerateArray().ToList();
        var portals = (await CliRun.RunAsync("portals", "list", "--json", "--data", data.Path)).Json().EnumerateArray().ToList();

        events.Select(e => e.GetProperty("event").GetString()).Should().Equal("ONEXTERNALCALLSTART", "ONAPPINSTALL");
        events[0].GetProperty("callId").GetString().Should().Be(callId);
        portals.Should().ContainSingle().Which.GetProperty("state").GetString().Should().Be("installed");
    }
}
