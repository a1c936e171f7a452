using Microsoft.Data.Sqlite;
using SQLitePCL;
using Switchboard.Storage;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Storage;

/// <summary>
/// The hot write paths bind text through SQLite's own API (<see cref="SqliteRaw"/>): what they bind must
/// read back exactly, the empty string included (a null pointer with length 0 is SQLite's NULL).
/// </summary>
public sealed class SqliteRawTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly SqliteConnection _connection;

    public SqliteRawTests()
    {
        _connection = new SqliteConnection($"Data Source={Path.Combine(_dir.Path, "raw.db")}");
        _connection.Open();
        using var create = _connection.CreateCommand();
        create.CommandText = "CREATE TABLE t (n INTEGER PRIMARY KEY, v TEXT)";
        create.ExecuteNonQuery();
    }

    public static TheoryData<string, string?> Values() => new()
    {
        { "empty", string.Empty },
        { "null", null },
        { "ascii", "externalCall.e4a5c2b1d0f9e8a7c6b5a4f3e2d1c0b9.1763785761" },
        { "256 Cyrillic letters", new string('Ж', 256) },
        { "128 emoji (256 UTF-16 units, 512 bytes)", string.Concat(Enumerable.Repeat("😀", 128)) },
        { "256 lone surrogates (3 bytes each once replaced)", new string('\ud800', 256) },
        { "257 characters (the array path)", new string('Я', 257) },
        { "an embedded NUL", "a\0b" },
        { "a long body", string.Concat(Enumerable.Repeat("data[PHONE_NUMBER]=%2B7+495+123-45-67&", 200)) },
    };

    [Theory]
    [MemberData(nameof(Values))]
    public void Text_reads_back_exactly_as_bound(string name, string? value)
    {
        _ = name;
        var expected = value is null ? null : System.Text.Encoding.UTF8.GetString(System.Text.Encoding.UTF8.GetBytes(value));

        Insert(db => stmt => SqliteRaw.BindText(db, stmt, 1, value));

        Read().Should().Be(expected);
    }

    [Fact]
    public void Empty_UTF8_is_the_empty_string_not_NULL()
    {
        Insert(db => stmt => SqliteRaw.BindUtf8(db, stmt, 1, ReadOnlySpan<byte>.Empty));

        Read().Should().Be(string.Empty);
    }

    private void Insert(Func<sqlite3, Action<sqlite3_stmt>> bind)
    {
        var db = _connection.Handle!;
        SqliteRaw.Check(db, raw.sqlite3_prepare_v2(db, "INSERT INTO t (v) VALUES (?1)", out var stmt));
        using (stmt)
        {
            bind(db)(stmt);
            SqliteRaw.Step(db, stmt);
        }
    }

    private string? Read()
    {
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = "SELECT v FROM t";
        using var r = cmd.ExecuteReader();
        r.Read().Should().BeTrue();
        return r.IsDBNull(0) ? null : r.GetString(0);
    }

    public void Dispose()
    {
        SqliteFiles.Discard(_connection);
        _dir.Dispose();
    }
}
