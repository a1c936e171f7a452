using System.Globalization;
using System.Net;
using Npgsql;
using Switchboard.Cli;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Cli;

/// <summary><c>switchboard … --postgres</c> reads the journal a server wrote to PostgreSQL.</summary>
public sealed class PostgresCliTests : IAsyncLifetime
{
    private readonly PostgresDatabase _db = new();
    private readonly TestPortal _portal = TestPortal.Create("gamma.bitrix24.de");
    private readonly TestPortal _gone = TestPortal.Create("delta.bitrix24.de");
    private readonly string _callId = Bitrix24Events.NewCallId();

    public async Task InitializeAsync()
    {
        await _db.InitializeAsync();
        await using var server = await SwitchboardServer.StartAsync(postgres: _db.ConnectionString);
        foreach (var body in new[]
        {
            Bitrix24Events.Install(_portal),
            Bitrix24Events.Install(_gone),
            Bitrix24Events.ExternalCallStart(_portal, _callId),
            Bitrix24Events.CallEnd(_portal, _callId),
            Bitrix24Events.Uninstall(_gone),
        })
        {
            using var response = await server.PostFormAsync(body);
            response.StatusCode.Should().Be(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        }
    }

    public Task DisposeAsync() => _db.DisposeAsync();

    private Task<CliRun> RunAsync(params string[] args) => CliRun.RunAsync([.. args, "--postgres", _db.ConnectionString]);

    [Fact]
    public async Task Events_written_to_PostgreSQL_are_listed_filtered_and_shown()
    {
        var all = (await RunAsync("events", "list", "--json")).Json().EnumerateArray().ToList();
        var call = (await RunAsync("events", "list", "--call-id", _callId, "--event", "onvoximplantcallend", "--json")).Json().EnumerateArray().ToList();
        var table = await RunAsync("events", "list");

        all.Select(e => e.GetProperty("event").GetString()).Should().Equal("ONAPPUNINSTALL", "ONVOXIMPLANTCALLEND", "ONEXTERNALCALLSTART", "ONAPPINSTALL", "ONAPPINSTALL");
        var end = call.Should().ContainSingle().Subject;
        end.GetProperty("memberId").GetString().Should().Be(_portal.MemberId);
        table.Output.Should().Contain(_callId).And.Contain("5 event(s).");

        var id = end.GetProperty("id").GetInt64().ToString(CultureInfo.InvariantCulture);
        var shown = await RunAsync("events", "show", id);
        shown.ExitCode.Should().Be(0, shown.ToString());
        shown.Output.Should().Contain("ONVOXIMPLANTCALLEND").And.Contain("data[CALL_DURATION]").And.Contain(_callId);
        (await RunAsync("events", "show", "999999")).ExitCode.Should().Be(SwitchboardCli.NotFound);

        foreach (var run in new[] { table, shown })
        {
            run.Output.Should().NotContain(_portal.ApplicationToken).And.NotContain(_portal.AccessToken).And.NotContain(_portal.RefreshToken);
        }
    }

    [Fact]
    public async Task Portals_in_PostgreSQL_are_listed_with_their_state_and_no_tokens()
    {
        var run = await RunAsync("portals", "list", "--json");
        var portals = run.Json().EnumerateArray().ToDictionary(p => p.GetProperty("memberId").GetString()!);

        portals[_portal.MemberId].GetProperty("domain").GetString().Should().Be(_portal.Domain);
        portals[_portal.MemberId].GetProperty("state").GetString().Should().Be("installed");
        portals[_portal.MemberId].GetProperty("hasOAuthTokens").GetBoolean().Should().BeTrue();
        portals[_gone.MemberId].GetProperty("state").GetString().Should().Be("uninstalled");
        portals[_gone.MemberId].GetProperty("hasOAuthTokens").GetBoolean().Should().BeFalse();
        foreach (var secret in new[] { _portal.ApplicationToken, _portal.AccessToken, _portal.RefreshToken, _gone.ApplicationToken, _gone.AccessToken, _gone.RefreshToken })
        {
            run.Output.Should().NotContain(secret);
        }
    }

    [Fact]
    public async Task A_database_role_that_may_only_select_can_read_the_journal()
    {
        var role = "sb_reader_" + TestPortal.Hex(6);
        await ExecuteAsync(PostgresDatabase.ServerConnectionString, $"CREATE ROLE {role} LOGIN");
        try
        {
            await ExecuteAsync(_db.ConnectionString, $"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}");
            var reader = new NpgsqlConnectionStringBuilder(_db.ConnectionString) { Username = role, Password = null }.ConnectionString;

            var events = await CliRun.RunAsync("events", "list", "--call-id", _callId, "--json", "--postgres", reader);
            var portals = await CliRun.RunAsync("portals", "list", "--postgres", reader);

            events.Json().GetArrayLength().Should().Be(2);
            portals.ExitCode.Should().Be(0, portals.ToString());
            portals.Output.Should().Contain(_portal.Domain);
        }
        finally
        {
            await ExecuteAsync(_db.ConnectionString, $"DROP OWNED BY {role}");
            NpgsqlConnection.ClearAllPools();
            await ExecuteAsync(PostgresDatabase.ServerConnectionString, $"DROP ROLE {role}");
        }
    }

    [Fact]
    public async Task Reading_a_database_without_a_journal_exits_3_and_creates_no_tables_there()
    {
        var other = new PostgresDatabase();
        await other.InitializeAsync();
        try
        {
            var run = await CliRun.RunAsync("events", "list", "--postgres", other.ConnectionString);

            run.ExitCode.Should().Be(SwitchboardCli.StoreUnavailable, run.ToString());
            run.Error.Should().Contain("Cannot read the store");
            await using var connection = new NpgsqlConnection(other.ConnectionString);
            await connection.OpenAsync();
            await using var tables = new NpgsqlCommand("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'", connection);
            ((long)(await tables.ExecuteScalarAsync())!).Should().Be(0, "a command that reads must not plant a schema in the database it was pointed at");
        }
        finally
        {
            await other.DisposeAsync();
        }
    }

    [Fact]
    public async Task An_unreachable_PostgreSQL_exits_3_naming_the_server_but_not_the_password()
    {
        const string password = "pw-3f9a1c-never-printed";
        var port = ServerProcess.FreePort(); // nobody listens there

        var run = await CliRun.RunAsync("events", "list", "--postgres", $"Host=127.0.0.1;Port={port};Username=switchboard;Password={password};Timeout=3");

        run.ExitCode.Should().Be(SwitchboardCli.StoreUnavailable, run.ToString());
        run.Error.Should().Contain($"127.0.0.1:{port}");
        run.Error.Should().NotContain(password);
        run.Output.Should().NotContain(password);
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, connection);
        await cmd.ExecuteNonQueryAsync();
    }
}
