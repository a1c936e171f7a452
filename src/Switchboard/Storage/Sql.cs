using System.Data.Common;

namespace Switchboard.Storage;

/// <summary>The ADO.NET steps every store repeats, the same for SQLite and PostgreSQL.</summary>
public static class Sql
{
    /// <summary>Runs statements that return nothing (schema, migrations), in order, in the caller's transaction.</summary>
    public static async Task ExecuteAllAsync(DbConnection connection, DbTransaction? tx, IEnumerable<string> statements, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(statements);
        foreach (var sql in statements)
        {
            await using var cmd = Command(connection, tx, sql);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>A command on this connection and transaction.</summary>
    public static DbCommand Command(DbConnection connection, DbTransaction? tx, string sql)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        return cmd;
    }

    /// <summary>Adds <c>@name</c> = <paramref name="value"/> (null as SQL NULL) and returns the parameter, to rebind it in a loop.</summary>
    public static DbParameter Add(DbCommand cmd, string name, object? value = null)
    {
        ArgumentNullException.ThrowIfNull(cmd);
        var p = cmd.CreateParameter();
        // With its prefix, Microsoft.Data.Sqlite binds the name in one lookup instead of trying @, : and $.
        p.ParameterName = "@" + name;
        p.Value = value ?? DBNull.Value;
        cmd.Parameters.Add(p);
        return p;
    }
}
