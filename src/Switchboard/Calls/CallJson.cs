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
    public static string Write(CallRecord record) => JsonSerializer.Serialize(record, Options);

    /// <summary>The stored form of a record, as UTF-8.</summary>
    public static byte[] WriteUtf8(CallRecord record) => JsonSerializer.SerializeToUtf8Bytes(record, Options);

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
        // Keys are per portal: the same CALL_ID at another portal is another call with its own commands.
        return new OutboxItem(kind, command.Key + "@" + memberId, memberId, payload, now);
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
