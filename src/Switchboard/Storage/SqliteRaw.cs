using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Switchboard.Storage;

/// <summary>
/// The few helpers the hot write paths need to use SQLite's own API (prepared statements bound by
/// position) on a Microsoft.Data.Sqlite connection's handle.
/// </summary>
internal static class SqliteRaw
{
    /// <summary>
    /// Binds text, or NULL, as UTF-8 with its length: the provider's string overload passes a
    /// NUL-terminated copy, which would cut a value with an embedded NUL (a CALL_ID can decode to one).
    /// </summary>
    /// <remarks>SQLitePCLRaw binds a span as <c>SQLITE_TRANSIENT</c> (SQLite copies it: its
    /// provider passes <c>new IntPtr(-1)</c> as the destructor), so short values are encoded on the stack
    /// instead of into a new array per bind. The empty string binds as '' (not NULL, which a null
    /// pointer would be): SqliteRawTests.</remarks>
    public static void BindText(sqlite3 db, sqlite3_stmt stmt, int index, string? value)
    {
        if (value is null)
        {
            Check(db, raw.sqlite3_bind_null(stmt, index));
            return;
        }

        if (value.Length <= 256)
        {
            Span<byte> utf8 = stackalloc byte[256 * 3];
            var length = System.Text.Encoding.UTF8.GetBytes(value, utf8);
            Check(db, raw.sqlite3_bind_text(stmt, index, utf8[..length]));
            return;
        }

        Check(db, raw.sqlite3_bind_text(stmt, index, System.Text.Encoding.UTF8.GetBytes(value)));
    }

    /// <summary>Binds UTF-8 text with its length.</summary>
    public static void BindUtf8(sqlite3 db, sqlite3_stmt stmt, int index, ReadOnlySpan<byte> value) =>
        Check(db, raw.sqlite3_bind_text(stmt, index, value));

    /// <summary>Binds an integer, or NULL.</summary>
    public static void BindInt64(sqlite3 db, sqlite3_stmt stmt, int index, long? value) =>
        Check(db, value is null ? raw.sqlite3_bind_null(stmt, index) : raw.sqlite3_bind_int64(stmt, index, value.Value));

    /// <summary>Steps a statement that returns no rows, then resets it for the next binding (a failed
    /// bind throws before the step, so no value of the previous row is ever written again).</summary>
    public static void Step(sqlite3 db, sqlite3_stmt stmt)
    {
        var rc = raw.sqlite3_step(stmt);
        if (rc != raw.SQLITE_DONE)
        {
            Check(db, rc);
        }

        raw.sqlite3_reset(stmt);
    }

    /// <summary>Throws the provider's exception for an error code.</summary>
    public static void Check(sqlite3 db, int rc)
    {
        if (rc is not (raw.SQLITE_OK or raw.SQLITE_DONE or raw.SQLITE_ROW))
        {
            throw new SqliteException($"SQLite Error {rc}: '{raw.sqlite3_errmsg(db).utf8_to_string()}'.", rc, raw.sqlite3_extended_errcode(db));
        }
    }

    /// <summary>
    /// A PASSIVE checkpoint (never waits for readers or the writer) of the main database: returns
    /// SQLite's result code, the frames in the WAL and how many of them are now in the database file.
    /// </summary>
    public static (int Rc, int WalFrames, int CopiedFrames) Checkpoint(SqliteConnection connection)
    {
        var rc = raw.sqlite3_wal_checkpoint_v2(connection.Handle, "main", raw.SQLITE_CHECKPOINT_PASSIVE, out var log, out var copied);
        return (rc, log, copied);
    }

    // SQLITE_FCNTL_HAS_MOVED (sqlite.org/c3ref/c_fcntl_begin_atomic_write.html): "sets the integer
    // pointed to by the argument to 1 if the database file has been unlinked or renamed since it was
    // opened, or 0 otherwise" (the unix VFS stat()s the path and compares inodes).
    private const int FcntlHasMoved = 20;

    private static readonly byte[] MainDatabase = "main\0"u8.ToArray();

    /// <summary>
    /// Whether the connection's main database file was deleted or renamed since it was opened. In WAL
    /// mode SQLite goes on committing into the open file then (only rollback journals are refused with
    /// SQLITE_READONLY_DBMOVED), and whatever it commits is gone with the process.
    /// </summary>
    public static bool HasMoved(SqliteConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var moved = 0;
        var rc = FileControl(connection.Handle!.DangerousGetHandle(), MainDatabase, FcntlHasMoved, ref moved);
        return rc == raw.SQLITE_OK && moved != 0;
    }

    // SQLitePCLRaw 3 does not wrap sqlite3_file_control; the native library it loads (e_sqlite3, from
    // the SQLitePCLRaw.bundle_e_sqlite3 package) exports it.
    [System.Runtime.InteropServices.DllImport("e_sqlite3", EntryPoint = "sqlite3_file_control", CallingConvention = System.Runtime.InteropServices.CallingConvention.Cdecl)]
    private static extern int FileControl(IntPtr db, byte[] zDbNameNulTerminated, int op, ref int arg);
}
