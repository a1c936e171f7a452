using System.Data;
using System.Data.Common;
using Npgsql;

namespace Switchboard.Storage;

/// <summary>A PostgreSQL write: a pooled connection, one READ COMMITTED transaction, committed (flushed, with the server's default synchronous_commit) before it returns.</summary>
public static class PostgresWrites
{
    /// <summary>Runs <paramref name="work"/> in one transaction on a connection from <paramref name="dataSource"/> and commits it.</summary>
    public static async Task<T> WriteAsync<T>(NpgsqlDataSource dataSource, Func<DbConnection, DbTransaction, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(work);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);
        var result = await work(connection, tx, cancellationToken).ConfigureAwait(false);
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return result;
    }
}
