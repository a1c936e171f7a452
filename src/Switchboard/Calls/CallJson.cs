using System.Text.Json;
using System.Text.Json.Serialization;
using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Wire;
using Switchboard.Outbox;

namespace Switchboard.Calls;

/// <summary>How the ledger's records and commands are written to the store, and journal rows read back as events.</summary>
public static class CallJson
{
    /// <summary>The record's JSON: camelCase, enums as names, nulls left out.</summary>
    /// <remarks>Codes and sets are written as plain strings and arrays (<c>"status":"603-S"</c>,
    /// <c>"answeredBy":[7]</c>), the way people read them in <c>calls show</c> and scripts read them.</remarks>
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters =
        {
            new JsonStringEnumConverter(),
            new CodeConverter<CallStatusCode>(c => c.Code, t => new CallStatusCode(t)),
            new CodeConverter<CrmEntityType>(c => c.Code, t => new CrmEntityType(t)),
            new ValueSetConverterFactory(),
        },
    };

    /// <summary>The stored form of a record.</summary>
    public static string Write(CallRecord record) => System.Text.Encoding.UTF8.GetString(WriteUtf8(record));

    /// <summary>The stored form of a record, as UTF-8.</summary>
    public static byte[] WriteUtf8(CallRecord record)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(512);
        using var writer = new Utf8JsonWriter(buffer, WriterOptions);
        WriteRecord(writer, record);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The options of <see cref="WriteRecord"/>'s writers: <see cref="Options"/>'s escaping, not indented.</summary>
    public static JsonWriterOptions WriterOptions { get; } = new() { Encoder = Options.Encoder, SkipValidation = true };

    /// <summary>
    /// Writes a record exactly as <c>JsonSerializer.Serialize(record, Options)</c> does (the same names,
    /// order, formats and escaping; a test compares the two), by hand: the reflection-based serializer
    /// was a third of the ledger's own CPU per folded event (<c>switchboard-bench fold</c>).
    /// </summary>
    public static void WriteRecord(Utf8JsonWriter writer, CallRecord record)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(record);
        writer.WriteStartObject();
        WriteIfNotNull(writer, Names.CallId, record.CallId);
        WriteIfNotNull(writer, Names.ExternalCallId, record.ExternalCallId);
        WriteIfNotNull(writer, Names.MemberId, record.MemberId);
        if (record.Direction is { } direction)
        {
            writer.WritePropertyName(Names.Direction);
            WriteDirection(writer, direction);
        }

        writer.WriteBoolean(Names.ClickToCall, record.ClickToCall);
        WriteIfNotNull(writer, Names.PhoneNumber, record.PhoneNumber);
        WriteIfNotNull(writer, Names.Extension, record.Extension);
        WriteIfNotNull(writer, Names.LineNumber, record.LineNumber);
        WriteIfNotNull(writer, Names.UserId, record.UserId);
        WriteIfNotNull(writer, Names.ManualUserId, record.ManualUserId);
        if (record.Crm is { } crm)
        {
            writer.WriteStartObject(Names.Crm);
            writer.WriteString(Names.Type, crm.Type.Code);
            writer.WriteNumber(Names.Id, crm.Id);
            writer.WriteEndObject();
        }

        WriteIfNotNull(writer, Names.RequestedAt, record.RequestedAt);
        WriteIfNotNull(writer, Names.AnsweredAt, record.AnsweredAt);
        WriteIfNotNull(writer, Names.EndedAt, record.EndedAt);
        if (record.LastAnswer is { } answer)
        {
            writer.WriteStartObject(Names.LastAnswer);
            writer.WriteString(Names.At, answer.At);
            WriteIfNotNull(writer, Names.UserId, answer.UserId);
            WriteIfNotNull(writer, Names.Extension, answer.Extension);
            writer.WriteEndObject();
        }

        if (record.AnsweredBy is { } answeredBy)
        {
            writer.WriteStartArray(Names.AnsweredBy);
            foreach (var user in answeredBy.Items)
            {
                writer.WriteNumberValue(user);
            }

            writer.WriteEndArray();
        }

        WriteOutcome(writer, Names.Outcome, record.Outcome);
        WriteOutcome(writer, Names.Bitrix24Outcome, record.Bitrix24Outcome);
        writer.WriteBoolean(Names.EndKnown, record.EndKnown);
        WriteStrings(writer, Names.Recordings, record.Recordings);
        WriteStrings(writer, Names.EventsSeen, record.EventsSeen);
        WriteIfNotNull(writer, Names.LastJournalId, record.LastJournalId);
        WriteStrings(writer, Names.Emitted, record.Emitted);
        WriteIfNotNull(writer, Names.Pbx, record.Pbx);
        WriteIfNotNull(writer, Names.PbxCallId, record.PbxCallId);
        WriteStrings(writer, Names.OriginateAttempts, record.OriginateAttempts);
        WriteStrings(writer, Names.OriginatesNotSent, record.OriginatesNotSent);
        WriteStrings(writer, Names.RecordingFiles, record.RecordingFiles);
        WriteStrings(writer, Names.Problems, record.Problems);
        writer.WriteBoolean(Names.Reconstructed, record.Reconstructed);
        writer.WriteEndObject();
    }

    private static void WriteIfNotNull(Utf8JsonWriter writer, JsonEncodedText name, string? value)
    {
        if (value is not null)
        {
            writer.WriteString(name, value);
        }
    }

    private static void WriteIfNotNull(Utf8JsonWriter writer, JsonEncodedText name, long? value)
    {
        if (value is { } v)
        {
            writer.WriteNumber(name, v);
        }
    }

    private static void WriteIfNotNull(Utf8JsonWriter writer, JsonEncodedText name, DateTimeOffset? value)
    {
        if (value is { } v)
        {
            writer.WriteString(name, v);
        }
    }

    // JsonStringEnumConverter: a defined value by its name, any other as its number.
    private static void WriteDirection(Utf8JsonWriter writer, CallDirection direction)
    {
        switch (direction)
        {
            case CallDirection.Outgoing:
                writer.WriteStringValue(Names.Outgoing);
                break;
            case CallDirection.Incoming:
                writer.WriteStringValue(Names.Incoming);
                break;
            case CallDirection.Callback:
                writer.WriteStringValue(Names.Callback);
                break;
            default:
                writer.WriteNumberValue((int)direction);
                break;
        }
    }

    // TimeSpan as the serializer writes it: the constant ("c") format.
    private static void WriteOutcome(Utf8JsonWriter writer, JsonEncodedText name, CallOutcome? outcome)
    {
        if (outcome is null)
        {
            return;
        }

        writer.WriteStartObject(name);
        writer.WriteString(Names.Status, outcome.Status.Code);
        Span<char> duration = stackalloc char[32];
        outcome.Duration.TryFormat(duration, out var written, "c", System.Globalization.CultureInfo.InvariantCulture);
        writer.WriteString(Names.Duration, duration[..written]);
        WriteIfNotNull(writer, Names.Reason, outcome.Reason);
        writer.WriteEndObject();
    }

    private static void WriteStrings(Utf8JsonWriter writer, JsonEncodedText name, ValueSet<string>? values)
    {
        if (values is null)
        {
            return;
        }

        writer.WriteStartArray(name);
        foreach (var value in values.Items)
        {
            writer.WriteStringValue(value);
        }

        writer.WriteEndArray();
    }

    /// <summary>Property names and enum names, encoded once.</summary>
    private static class Names
    {
        public static readonly JsonEncodedText CallId = JsonEncodedText.Encode("callId");
        public static readonly JsonEncodedText ExternalCallId = JsonEncodedText.Encode("externalCallId");
        public static readonly JsonEncodedText MemberId = JsonEncodedText.Encode("memberId");
        public static readonly JsonEncodedText Direction = JsonEncodedText.Encode("direction");
        public static readonly JsonEncodedText ClickToCall = JsonEncodedText.Encode("clickToCall");
        public static readonly JsonEncodedText PhoneNumber = JsonEncodedText.Encode("phoneNumber");
        public static readonly JsonEncodedText Extension = JsonEncodedText.Encode("extension");
        public static readonly JsonEncodedText LineNumber = JsonEncodedText.Encode("lineNumber");
        public static readonly JsonEncodedText UserId = JsonEncodedText.Encode("userId");
        public static readonly JsonEncodedText ManualUserId = JsonEncodedText.Encode("manualUserId");
        public static readonly JsonEncodedText Crm = JsonEncodedText.Encode("crm");
        public static readonly JsonEncodedText Type = JsonEncodedText.Encode("type");
        public static readonly JsonEncodedText Id = JsonEncodedText.Encode("id");
        public static readonly JsonEncodedText RequestedAt = JsonEncodedText.Encode("requestedAt");
        public static readonly JsonEncodedText AnsweredAt = JsonEncodedText.Encode("answeredAt");
        public static readonly JsonEncodedText EndedAt = JsonEncodedText.Encode("endedAt");
        public static readonly JsonEncodedText LastAnswer = JsonEncodedText.Encode("lastAnswer");
        public static readonly JsonEncodedText At = JsonEncodedText.Encode("at");
        public static readonly JsonEncodedText AnsweredBy = JsonEncodedText.Encode("answeredBy");
        public static readonly JsonEncodedText Outcome = JsonEncodedText.Encode("outcome");
        public static readonly JsonEncodedText Bitrix24Outcome = JsonEncodedText.Encode("bitrix24Outcome");
        public static readonly JsonEncodedText Status = JsonEncodedText.Encode("status");
        public static readonly JsonEncodedText Duration = JsonEncodedText.Encode("duration");
        public static readonly JsonEncodedText EndKnown = JsonEncodedText.Encode("endKnown");
        public static readonly JsonEncodedText Recordings = JsonEncodedText.Encode("recordings");
        public static readonly JsonEncodedText EventsSeen = JsonEncodedText.Encode("eventsSeen");
        public static readonly JsonEncodedText LastJournalId = JsonEncodedText.Encode("lastJournalId");
        public static readonly JsonEncodedText Emitted = JsonEncodedText.Encode("emitted");
        public static readonly JsonEncodedText Reason = JsonEncodedText.Encode("reason");
        public static readonly JsonEncodedText Pbx = JsonEncodedText.Encode("pbx");
        public static readonly JsonEncodedText PbxCallId = JsonEncodedText.Encode("pbxCallId");
        public static readonly JsonEncodedText OriginateAttempts = JsonEncodedText.Encode("originateAttempts");
        public static readonly JsonEncodedText OriginatesNotSent = JsonEncodedText.Encode("originatesNotSent");
        public static readonly JsonEncodedText RecordingFiles = JsonEncodedText.Encode("recordingFiles");
        public static readonly JsonEncodedText Problems = JsonEncodedText.Encode("problems");
        public static readonly JsonEncodedText Reconstructed = JsonEncodedText.Encode("reconstructed");
        public static readonly JsonEncodedText Outgoing = JsonEncodedText.Encode(nameof(CallDirection.Outgoing));
        public static readonly JsonEncodedText Incoming = JsonEncodedText.Encode(nameof(CallDirection.Incoming));
        public static readonly JsonEncodedText Callback = JsonEncodedText.Encode(nameof(CallDirection.Callback));
    }

    /// <summary>A stored record.</summary>
    public static CallRecord Read(string json) =>
        JsonSerializer.Deserialize<CallRecord>(json, Options) ?? throw new InvalidOperationException("A stored call record is null.");

    /// <summary>The outbox row for a command the ledger emitted.</summary>
    public static OutboxItem ToOutboxItem(OutboxCommand command, string memberId, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(command);
        var (kind, payload) = command switch
        {
            FinishCall f => (OutboxKinds.Finish, JsonSerializer.Serialize(new CallPayload(f.CallId), Options)),
            ShowCard s => (OutboxKinds.Show, JsonSerializer.Serialize(new UserPayload(s.CallId, s.UserId), Options)),
            HideCard h => (OutboxKinds.Hide, JsonSerializer.Serialize(new UserPayload(h.CallId, h.UserId), Options)),
            AttachRecord a => (OutboxKinds.AttachRecord, JsonSerializer.Serialize(new RecordingPayload(a.CallId, a.Path), Options)),
            OriginateCall o => (OutboxKinds.Originate, JsonSerializer.Serialize(o, Options)),
            _ => throw new ArgumentException("Unknown command " + command.GetType().Name, nameof(command)),
        };
        return new OutboxItem(kind, CallKey.OutboxKey(command, memberId), memberId, payload, now);
    }

    /// <summary>
    /// The typed event of a journal row, parsed from its stored body (form or JSON, the tokens removed;
    /// member_id and the data are as received). Null when the body no longer parses, which the journal's
    /// own checks at receipt make a bug, not an input error.
    /// </summary>
    public static Bitrix24Event? ReadEvent(string contentType, string body)
    {
        var parsed = Receiving.JournalBody.ParseStored(contentType, body);
        if (!parsed.Success)
        {
            return null;
        }

        var typed = Bitrix24EventReader.Read(parsed.Root);
        return typed.Success ? typed.Event : null;
    }
}

/// <summary>Payload of a finish: the call; its arguments are read from the ledger when it is sent.</summary>
public sealed record CallPayload(string CallId);

/// <summary>Payload of show and hide.</summary>
public sealed record UserPayload(string CallId, long UserId);

/// <summary>Payload of attachRecord.</summary>
public sealed record RecordingPayload(string CallId, string Path);

/// <summary>A code type (a record struct around a string) as a JSON string.</summary>
internal sealed class CodeConverter<T>(Func<T, string> write, Func<string, T> read) : JsonConverter<T>
{
    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String ? read(reader.GetString()!) : throw new JsonException($"Expected a string for {typeof(T).Name}.");

    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => writer.WriteStringValue(write(value));
}

/// <summary><see cref="ValueSet{T}"/> as a JSON array.</summary>
internal sealed class ValueSetConverterFactory : JsonConverterFactory
{
    public override bool CanConvert(Type typeToConvert) => typeToConvert.IsGenericType && typeToConvert.GetGenericTypeDefinition() == typeof(ValueSet<>);

    public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
        (JsonConverter)Activator.CreateInstance(typeof(ValueSetConverter<>).MakeGenericType(typeToConvert.GetGenericArguments()[0]))!;

    private sealed class ValueSetConverter<T> : JsonConverter<ValueSet<T>>
        where T : IComparable<T>
    {
        public override ValueSet<T> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            new(JsonSerializer.Deserialize<List<T>>(ref reader, options) ?? []);

        public override void Write(Utf8JsonWriter writer, ValueSet<T> value, JsonSerializerOptions options) =>
            JsonSerializer.Serialize(writer, value.Items, options);
    }
}
