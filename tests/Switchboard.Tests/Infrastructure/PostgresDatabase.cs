using Npgsql;

namespace Switchboard.Tests.Infrastructure;

/// <summary>
/// A new, empty database on the PostgreSQL server that ./test.sh starts (SWITCHBOARD_TEST_POSTGRES),
/// dropped afterwards. Without that variable the PostgreSQL tests fail and say how to run them:
/// a suite that silently skips proves nothing.
/// </summary>
public sealed class PostgresDatabase : IAsyncLifetime
{
    public const string Variable = "SWITCHBOARD_TEST_POSTGRES";

    private readonly string _name = "sb_test_" + Guid.NewGuid().ToString("N")[..16];

    public string ConnectionString { get; private set; } = string.Empty;

    public static string ServerConnectionString =>
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } cs
            ? cs
            : throw new InvalidOperationException($"The PostgreSQL tests need a server: run ./test.sh, which starts one, or set {Variable} to an Npgsql connection string of a server where the user may create databases.");

    public async Task InitializeAsync()
    {
        var server = ServerConnectionString;
        await using (var connection = new NpgsqlConnection(server))
        {
            await connection.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {_name}", connection);
            await cmd.ExecuteNonQueryAsync();
        }

        ConnectionString = new NpgsqlConnectionStringBuilder(server) { Database = _name }.ConnectionString;
    }

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(ServerConnectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_name} WITH (FORCE)", connection);
        await cmd.ExecuteNonQueryAsync();
    }
}
