using System.Text.Json;
using FluentAssertions;
using Switchboard.Bitrix24.Events;
using Switchboard.Calls;
using Xunit;

namespace Switchboard.Tests.Calls;

/// <summary>
/// The ledger writes its records with a hand-written writer (<see cref="CallJson.WriteRecord"/>) for
/// speed, and reads them back with the serializer: the two must agree byte for byte, or a stored record
/// would read back different from what was folded.
/// </summary>
public sealed class CallJsonTests
{
    public static TheoryData<string> Records() => new(Samples.Keys);

    private static readonly Dictionary<string, CallRecord> Samples = new()
    {
        ["minimal"] = new CallRecord { CallId = "externalCall.1.1700000000" },
        ["every field"] = new CallRecord
        {
            CallId = "externalCall.e4a5c2b1d0f9e8a7c6b5a4f3e2d1c0b9.1763785761",
            ExternalCallId = "1763785761.42",
            MemberId = "a1b2c3",
            Direction = CallDirection.Incoming,
            ClickToCall = true,
            PhoneNumber = "+7 (495) 123-45-67",
            Extension = "101",
            LineNumber = "reg1",
            UserId = 7,
            ManualUserId = 9,
            Crm = new CrmEntity(new CrmEntityType("CONTACT"), 1234567890123),
            RequestedAt = new DateTimeOffset(2026, 11, 22, 4, 29, 21, 123, TimeSpan.FromHours(3)),
            AnsweredAt = new DateTimeOffset(2026, 11, 22, 1, 29, 30, TimeSpan.Zero),
            EndedAt = new DateTimeOffset(2026, 11, 22, 1, 31, 30, TimeSpan.Zero).AddTicks(1234567),
            LastAnswer = new CallAnswer(new DateTimeOffset(2026, 11, 22, 1, 29, 30, TimeSpan.FromHours(-5.5)), 7, "101"),
            AnsweredBy = new ValueSet<long>([9, 7, -1]),
            Outcome = new CallOutcome(CallStatusCode.Success, TimeSpan.FromSeconds(120), "Busy (hangup cause 17)."),
            Bitrix24Outcome = new CallOutcome(CallStatusCode.Cancelled, new TimeSpan(1, 2, 3, 4, 5)),
            EndKnown = true,
            Recordings = new ValueSet<string>(["/var/spool/asterisk/monitor/b.wav", "/a.mp3"]),
            EventsSeen = new ValueSet<string>(["ONVOXIMPLANTCALLSTART", "ONEXTERNALCALLSTART", "ONVOXIMPLANTCALLEND"]),
            LastJournalId = long.MaxValue,
            Emitted = new ValueSet<string>(["finish", "show:7", "hide:9"]),
            Pbx = "office",
            PbxCallId = "sb-externalCall.e4a5c2b1d0f9e8a7c6b5a4f3e2d1c0b9.1763785761",
            OriginateAttempts = new ValueSet<string>(["a1", "b2"]),
            OriginatesNotSent = new ValueSet<string>(["a1"]),
            RecordingFiles = new ValueSet<string>(["/var/spool/asterisk/monitor/b.wav"]),
            Problems = new ValueSet<string>(["Recording x.gsm not attached"]),
            Reconstructed = true,
        },
        ["nulls inside nested values"] = new CallRecord
        {
            CallId = "c",
            LastAnswer = new CallAnswer(DateTimeOffset.UnixEpoch, null, null),
            Crm = new CrmEntity(default, 0),
            Outcome = new CallOutcome(new CallStatusCode("OTHER"), TimeSpan.Zero),
            Direction = (CallDirection)3,
        },
        ["text that needs escaping"] = new CallRecord
        {
            CallId = "quote\" backslash\\ slash/ tab\t nl\n nul\0 bell\u0007 del\u007f",
            PhoneNumber = "Иван Петров <ivan@example.com> & 'x' +",
            Extension = "\u2028\u2029 emoji 😀",
            LineNumber = string.Empty,
            Recordings = new ValueSet<string>(["Запись звонка.mp3", "<script>"]),
            Direction = CallDirection.Callback,
        },
        ["odd values the serializer writes its own way"] = new CallRecord
        {
            CallId = null!,
            Direction = (CallDirection)5,
            Outcome = new CallOutcome(default, TimeSpan.MinValue),
            Bitrix24Outcome = new CallOutcome(CallStatusCode.Missed, TimeSpan.MaxValue),
            AnsweredBy = null!,
            Recordings = new ValueSet<string>([null!, "a"]),
            EventsSeen = null!,
            PhoneNumber = "lone \ud800 surrogate",
        },
        ["direction zero"] = new CallRecord { CallId = "z", Direction = (CallDirection)0 },
        ["negative duration and far dates"] = new CallRecord
        {
            CallId = "d",
            Direction = CallDirection.Outgoing,
            Outcome = new CallOutcome(new CallStatusCode("603-S"), TimeSpan.FromTicks(-1)),
            RequestedAt = DateTimeOffset.MinValue,
            EndedAt = DateTimeOffset.MaxValue,
        },
    };

    [Theory]
    [MemberData(nameof(Records))]
    public void The_hand_written_record_is_the_serializers_record_byte_for_byte(string sample)
    {
        var record = Samples[sample];

        var expected = JsonSerializer.SerializeToUtf8Bytes(record, CallJson.Options);

        System.Text.Encoding.UTF8.GetString(CallJson.WriteUtf8(record)).Should().Be(System.Text.Encoding.UTF8.GetString(expected));
        CallJson.WriteUtf8(record).Should().Equal(expected);
        CallJson.Write(record).Should().Be(JsonSerializer.Serialize(record, CallJson.Options));
    }

    [Theory]
    [MemberData(nameof(Records))]
    public void A_written_record_reads_back_equal(string sample)
    {
        var record = Samples[sample];

        // Not values a fold makes: a CRM type or status with no code at all, a null CALL_ID or set, a
        // lone surrogate (replaced on the way to UTF-8 by the serializer as much as by the writer).
        if (sample is "nulls inside nested values" or "odd values the serializer writes its own way")
        {
            return;
        }

        var back = CallJson.Read(CallJson.Write(record));

        back.Should().Be(record);
        CallJson.Write(back).Should().Be(CallJson.Write(record));
    }

    [Fact]
    public async Task Records_stored_by_a_fold_are_the_serializers_records_byte_for_byte()
    {
        // The SQLite ledger writes every record of a pass through one reused writer.
        using var dir = new Infrastructure.TempDirectory();
        await using var outbox = new Switchboard.Outbox.SqliteOutboxStore(Path.Combine(dir.Path, "ledger.db"));
        await outbox.InitializeAsync(default);
        var calls = new SqliteCallStore(outbox);
        await calls.InitializeAsync(default);
        var at = DateTimeOffset.UtcNow;
        var portal = Infrastructure.TestPortal.Create();
        var events = Enumerable.Range(1, 6).Select(i =>
        {
            var callId = "externalCall." + (i / 2).ToString("x32", System.Globalization.CultureInfo.InvariantCulture) + ".1763785761";
            var body = i % 2 == 0 ? Infrastructure.Bitrix24Events.CallEnd(portal, callId) : Infrastructure.Bitrix24Events.ExternalCallStart(portal, callId);
            return new global::Switchboard.Journal.JournalEvent(i, at, portal.MemberId, Infrastructure.ParsedEvents.Read(body));
        }).ToList();

        (await calls.FoldAsync(0, events, events[^1].Id, at, default)).Conflict.Should().BeFalse();

        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={outbox.Path};Mode=ReadOnly");
        await connection.OpenAsync();
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT record FROM calls";
        var stored = new List<string>();
        await using (var r = await cmd.ExecuteReaderAsync())
        {
            while (await r.ReadAsync())
            {
                stored.Add(r.GetString(0));
            }
        }

        stored.Should().HaveCount(4);
        stored.Should().OnlyContain(json => JsonSerializer.Serialize(CallJson.Read(json), CallJson.Options) == json);
    }

    [Fact]
    public void Every_property_of_a_record_is_written()
    {
        // A property added to CallRecord and not to the writer would be dropped from the ledger: the
        // "every field" sample sets them all, so the serializer's names must all appear in the writer's.
        var names = typeof(CallRecord).GetProperties()
            .Where(p => p.GetCustomAttributes(typeof(System.Text.Json.Serialization.JsonIgnoreAttribute), true).Length == 0)
            .Select(p => JsonNamingPolicy.CamelCase.ConvertName(p.Name))
            .ToList();
        using var written = JsonDocument.Parse(CallJson.WriteUtf8(Samples["every field"]));

        written.RootElement.EnumerateObject().Select(p => p.Name).Should().Equal(names);

        // And every property of the records inside it.
        foreach (var (property, type) in new[] { ("crm", typeof(CrmEntity)), ("lastAnswer", typeof(CallAnswer)), ("outcome", typeof(CallOutcome)) })
        {
            written.RootElement.GetProperty(property).EnumerateObject().Select(p => p.Name).Should()
                .Equal(type.GetProperties().Where(p => p.Name != "EqualityContract").Select(p => JsonNamingPolicy.CamelCase.ConvertName(p.Name)), property);
        }
    }
}
