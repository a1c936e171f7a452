using System.Net;
using Switchboard.Cli;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Cli;

/// <summary>Tests that set process-wide environment variables: alone, never beside another test.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EnvironmentTestGroup
{
    public const string Name = "Process environment";
}

/// <summary>The CLI chooses its store as the server does: <c>Switchboard__Store__…</c> environment variables, overridden by flags.</summary>
[Collection(EnvironmentTestGroup.Name)]
public sealed class CliEnvironmentTests : IAsyncLifetime
{
    private const string DataVariable = "Switchboard__Store__DataDirectory";
    private const string PostgresVariable = "Switchboard__Store__PostgresConnectionString";

    private readonly TestPortal _portal = TestPortal.Create();
    private readonly string _callId = Bitrix24Events.NewCallId();
    private SwitchboardServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await SwitchboardServer.StartAsync();
        (await _server.PostFormAsync(Bitrix24Events.Install(_portal))).StatusCode.Should().Be(HttpStatusCode.OK);
        (await _server.PostFormAsync(Bitrix24Events.ExternalCallStart(_portal, _callId))).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Without_data_the_data_directory_comes_from_the_environment()
    {
        CliRun run;
        using (new EnvironmentVariable(DataVariable, _server.DataDirectory))
        {
            run = await CliRun.RunAsync("events", "list", "--json");
        }

        run.Json().EnumerateArray().Select(e => e.GetProperty("callId").GetString()).Should().Equal(_callId, null);
    }

    [Fact]
    public async Task The_environments_data_directory_is_where_a_missing_journal_is_looked_for()
    {
        using var empty = new TempDirectory();
        CliRun run;
        using (new EnvironmentVariable(DataVariable, empty.Path))
        {
            run = await CliRun.RunAsync("portals", "list");
        }

        run.ExitCode.Should().Be(SwitchboardCli.StoreUnavailable, run.ToString());
        run.Error.Should().Contain(Path.Combine(empty.Path, "switchboard.db"));
    }

    [Fact]
    public async Task The_data_flag_wins_over_the_environment()
    {
        using var empty = new TempDirectory();
        CliRun run;
        using (new EnvironmentVariable(DataVariable, empty.Path))
        {
            run = await CliRun.RunAsync("events", "list", "--json", "--data", _server.DataDirectory!);
        }

        run.Json().GetArrayLength().Should().Be(2);
    }

    [Fact]
    public async Task A_PostgreSQL_connection_string_in_the_environment_selects_PostgreSQL()
    {
        var port = ServerProcess.FreePort(); // nobody listens there
        CliRun run;
        using (new EnvironmentVariable(DataVariable, _server.DataDirectory))
        using (new EnvironmentVariable(PostgresVariable, $"Host=127.0.0.1;Port={port};Username=switchboard;Timeout=3"))
        {
            run = await CliRun.RunAsync("events", "list");
        }

        run.ExitCode.Should().Be(SwitchboardCli.StoreUnavailable, run.ToString());
        run.Error.Should().Contain($"PostgreSQL 127.0.0.1:{port}");
    }

    /// <summary>Sets a process environment variable and puts the previous value back.</summary>
    private sealed class EnvironmentVariable : IDisposable
    {
        private readonly string _name;
        private readonly string? _previous;

        public EnvironmentVariable(string name, string? value)
        {
            _name = name;
            _previous = Environment.GetEnvironmentVariable(name);
            Environment.SetEnvironmentVariable(name, value);
        }

        public void Dispose() => Environment.SetEnvironmentVariable(_name, _previous);
    }
}
