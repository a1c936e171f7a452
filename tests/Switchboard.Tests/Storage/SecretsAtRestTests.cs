using System.Data.Common;
using System.Net;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Switchboard.Bitrix24.Rest;
using Switchboard.Emulator;
using Switchboard.Outbox;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Storage;

/// <summary>
/// Issue 18, item 6: what Switchboard keeps on disk is for its own user only, and the portals' access
/// and refresh tokens are encrypted at rest, on SQLite and PostgreSQL alike, yet still work after a restart.
/// </summary>
public sealed class SecretsAtRestTests : IAsyncLifetime
{
    private readonly PortalEmulator _emulator = new(new EmulatorOptions { Url = "http://127.0.0.1:0" });
    private readonly TempDirectory _temp = new();

    public Task InitializeAsync() => _emulator.StartAsync();

    public async Task DisposeAsync()
    {
        await _emulator.DisposeAsync();
        _temp.Dispose();
    }

    private string MemberId => _emulator.Options.MemberId;

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task The_data_directory_is_0700_and_every_file_Switchboard_creates_in_it_0600_after_a_start()
    {
        var data = Path.Combine(_temp.Path, "data");
        await using (var server = await StartAsync(data))
        {
            await InstallAsync(server);

            // While the server runs: the -wal and -shm files exist beside each database now.
            File.GetUnixFileMode(data).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var files = Directory.EnumerateFiles(data, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(data, f)).ToList();
            files.Should().Contain(["switchboard.db", "switchboard.db-wal", "switchboard.db-shm", "ledger.db", "ledger.db-wal", "ledger.db-shm"]);
            files.Should().Contain(f => f.StartsWith("keys" + Path.DirectorySeparatorChar, StringComparison.Ordinal) && f.EndsWith(".xml", StringComparison.Ordinal), "the key ring is in the data directory");
            File.GetUnixFileMode(Path.Combine(data, "keys")).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            foreach (var file in files)
            {
                File.GetUnixFileMode(Path.Combine(data, file)).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite, file);
            }
        }
    }

    [Fact]
    public async Task On_SQLite_the_stored_token_columns_are_not_the_tokens_and_the_server_still_calls_the_portal_after_a_restart()
    {
        var data = Path.Combine(_temp.Path, "data");
        await using (var server = await StartAsync(data))
        {
            await InstallAsync(server);
        }

        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(data, "switchboard.db"), Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        await connection.OpenAsync();
        await AssertEncryptedAndUsableAfterRestartAsync(connection, () => StartAsync(data));
    }

    [Fact]
    public async Task On_PostgreSQL_the_stored_token_columns_are_not_the_tokens_and_the_server_still_calls_the_portal_after_a_restart()
    {
        var db = new PostgresDatabase();
        await db.InitializeAsync();
        try
        {
            var keys = Path.Combine(_temp.Path, "shared-keys");
            await using (var server = await StartAsync(postgres: db.ConnectionString, keyRing: keys))
            {
                await InstallAsync(server);
            }

            await using var connection = new NpgsqlConnection(db.ConnectionString);
            await connection.OpenAsync();
            await AssertEncryptedAndUsableAfterRestartAsync(connection, () => StartAsync(postgres: db.ConnectionString, keyRing: keys));
        }
        finally
        {
            await db.DisposeAsync();
        }
    }

    [Fact]
    public async Task Tokens_another_key_ring_encrypted_make_that_portal_wait_with_one_log_line_and_readyz_and_portals_list_say_so()
    {
        var data = Path.Combine(_temp.Path, "data");
        await using (var server = await StartAsync(data))
        {
            await InstallAsync(server);
        }

        // The command-line tool reads the tokens with the data directory's key ring, and says when it cannot.
        var copy = Path.Combine(_temp.Path, "copy-without-keys");
        Directory.CreateDirectory(copy);
        foreach (var db in Directory.EnumerateFiles(data, "*.db"))
        {
            File.Copy(db, Path.Combine(copy, Path.GetFileName(db)));
        }

        (await Cli.CliRun.RunAsync("portals", "list", "--json", "--data", data)).Json().EnumerateArray().Single().GetProperty("credentialsUnreadable").GetBoolean().Should().BeFalse();
        (await Cli.CliRun.RunAsync("portals", "list", "--json", "--data", copy)).Json().EnumerateArray().Single().GetProperty("credentialsUnreadable").GetBoolean().Should().BeTrue();
        Directory.Exists(Path.Combine(copy, "keys")).Should().BeFalse("the tool only reads");

        await using var restarted = await StartAsync(data, keyRing: Path.Combine(_temp.Path, "other-keys"));

        using var ready = await restarted.Client.GetAsync("/readyz");
        ready.StatusCode.Should().Be(HttpStatusCode.OK, "events are still received and journaled");
        using (var body = JsonDocument.Parse(await ready.Content.ReadAsStringAsync()))
        {
            body.RootElement.GetProperty("problems").EnumerateArray().Should().ContainSingle()
                .Which.GetString().Should().Contain(MemberId).And.Contain("other-keys");
        }

        // The portal's work waits: deferred without an attempt counted, never dead, never a crash.
        var outbox = restarted.Services.GetRequiredService<IOutboxStore>();
        await outbox.EnqueueAsync([new OutboxItem(OutboxKinds.PortalSetup, "setup:again", MemberId, """{"journalId":1,"event":"ONAPPUPDATE"}""", DateTimeOffset.UtcNow)], default);
        await PortalLab.WaitUntilAsync(async () => (await outbox.ListAsync(null, 100, default)).Single(e => e.Key == "setup:again").LastError?.Contains("key ring", StringComparison.Ordinal) == true,
            "the command is deferred for the key ring");
        var entry = (await outbox.ListAsync(null, 100, default)).Single(e => e.Key == "setup:again");
        entry.Status.Should().Be(OutboxStatus.Pending);
        entry.Attempts.Should().Be(0);
        entry.NextAttemptAt.Should().BeAfter(DateTimeOffset.UtcNow.AddSeconds(30));

        var rest = new PortalClient(restarted.Services.GetRequiredService<Bitrix24RestClient>());
        await rest.Invoking(r => r.AppInfoAsync(MemberId)).Should().ThrowAsync<Switchboard.Storage.PortalTokensUnreadableException>();
        restarted.Logs.Lines.Where(l => l.Contains("[3040]", StringComparison.Ordinal)).Should().ContainSingle("logged once for the portal");
        restarted.Logs.Lines.Should().NotContain(l => l.StartsWith("Critical", StringComparison.Ordinal));
    }

    private async Task AssertEncryptedAndUsableAfterRestartAsync(DbConnection raw, Func<Task<SwitchboardServer>> restart)
    {
        await using var server = await restart();
        var tokens = (await server.Store.GetPortalTokensAsync(MemberId, default))!;
        tokens.AccessToken.Should().NotBeNullOrEmpty();
        tokens.RefreshToken.Should().NotBeNullOrEmpty();

        await using (var cmd = raw.CreateCommand())
        {
            cmd.CommandText = "SELECT access_token, refresh_token FROM portal_tokens";
            await using var r = await cmd.ExecuteReaderAsync();
            (await r.ReadAsync()).Should().BeTrue();
            var (access, refresh) = (r.GetString(0), r.GetString(1));
            access.Should().NotContain(tokens.AccessToken!).And.NotContain(tokens.RefreshToken!);
            refresh.Should().NotContain(tokens.RefreshToken!).And.NotContain(tokens.AccessToken!);
            (await r.ReadAsync()).Should().BeFalse();
        }

        // The restarted server decrypts what it stored and the portal accepts it.
        var info = await new PortalClient(server.Services.GetRequiredService<Bitrix24RestClient>()).AppInfoAsync(MemberId);
        info.IsSuccess.Should().BeTrue(info.IsSuccess ? "" : info.Error.ToString());
    }

    private async Task<SwitchboardServer> StartAsync(string? data = null, string? postgres = null, string? keyRing = null)
    {
        var settings = PortalLab.Settings(_emulator);
        // A known port, so the install flow can bind the handlers to where this server listens.
        var port = ServerProcess.FreePort();
        settings["urls"] = $"http://127.0.0.1:{port}";
        settings["Switchboard:PublicUrl"] = $"http://127.0.0.1:{port}/";
        if (keyRing is not null)
        {
            settings["Switchboard:Store:KeyRingDirectory"] = keyRing;
        }

        return await SwitchboardServer.StartAsync(postgres, settings, data);
    }

    private async Task InstallAsync(SwitchboardServer server)
    {
        var install = await _emulator.SendInstallAsync(new Uri(server.BaseAddress, "/bitrix24/events"));
        install.Deliveries.Should().ContainSingle().Which.Status.Should().Be(200, string.Join("\n", server.Logs.Lines));
        await PortalLab.WaitForSetupAsync(server, 1);
    }
}
