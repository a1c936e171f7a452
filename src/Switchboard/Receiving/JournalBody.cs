using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Wire;
using Switchboard.Journal;
using Switchboard.Portals;

namespace Switchboard.Receiving;

/// <summary>What the journal keeps of a body: the body minus its tokens, and the key that makes a redelivery the same event.</summary>
public static class JournalBody
{
    /// <summary>The media type of a form-encoded body; any other accepted body is JSON.</summary>
    public const string FormType = "application/x-www-form-urlencoded";

    private static readonly string[] SecretAuthFields = ["access_token", "refresh_token", "application_token"];

    /// <summary>
    /// The journal row of a verified event, received at <paramref name="receivedAt"/>: its body without
    /// the tokens, its dedup key, and the verdict's guard and portal change.
    /// </summary>
    public static JournalAppend ToAppend(DateTimeOffset receivedAt, string mediaType, ReadOnlySpan<byte> body, Bitrix24Event ev, FormNode root, Verdict verdict)
    {
        ArgumentNullException.ThrowIfNull(ev);
        ArgumentNullException.ThrowIfNull(verdict);
        return new JournalAppend(
            receivedAt,
            ev.Auth.MemberId!,
            ev.Name,
            ev.CallId,
            ev.HandlerId,
            ev.SentAt,
            mediaType,
            mediaType == FormType ? RedactForm(body) : RedactJson(body),
            DedupKey(ev, root),
            verdict.Guard!,
            verdict.Change,
            ev);
    }

    /// <summary>
    /// What a stored body of <paramref name="length"/> bytes is read back with: limits no body of that
    /// length can reach (no key, value, nesting or key count exceeds its length). The body passed the
    /// configured limits (<c>Switchboard:Receiving</c>) when it arrived; reading it back with the
    /// defaults instead would skip an event accepted under raised limits, and make the ledger's result
    /// depend on whether it was handed the event in memory or read it back.
    /// </summary>
    public static FormLimits StoredLimits(int length)
    {
        var n = Math.Max(length, 1);
        return new FormLimits { MaxKeys = n, MaxDepth = n, MaxKeyLength = n, MaxValueLength = n };
    }

    /// <summary>Parses a body as the journal stored it (tokens removed), by its stored content type.</summary>
    public static FormParseResult ParseStored(string contentType, string body)
    {
        ArgumentNullException.ThrowIfNull(contentType);
        ArgumentNullException.ThrowIfNull(body);
        var bytes = System.Text.Encoding.UTF8.GetBytes(body);
        return contentType.Contains("json", StringComparison.OrdinalIgnoreCase)
            ? JsonEventBodyParser.Parse(bytes, StoredLimits(bytes.Length))
            : PhpFormParser.Parse(bytes, StoredLimits(bytes.Length));
    }

    /// <summary>
    /// The form body as it arrived, pair for pair, without the three token fields: the journal
    /// keeps Bitrix24's exact bytes (useful when its format changes) but no secret. The parser has
    /// already accepted the body, so every key decodes.
    /// </summary>
    /// <returns>The stored body, UTF-8: written straight into the array it is kept in (the redacted body
    /// is never longer than the body), not copied out of a scratch buffer.</returns>
    public static ReadOnlyMemory<byte> RedactForm(ReadOnlySpan<byte> body)
    {
        var output = new byte[body.Length];
        var length = 0;
        var rest = body;
        while (!rest.IsEmpty)
        {
            var amp = rest.IndexOf((byte)'&');
            var pair = amp < 0 ? rest : rest[..amp];
            rest = amp < 0 ? default : rest[(amp + 1)..];
            if (pair.IsEmpty || IsSecret(pair))
            {
                continue;
            }

            if (length > 0)
            {
                output[length++] = (byte)'&';
            }

            pair.CopyTo(output.AsSpan(length));
            length += pair.Length;
        }

        return output.AsMemory(0, length);
    }

    private static bool IsSecret(ReadOnlySpan<byte> pair)
    {
        var eq = pair.IndexOf((byte)'=');
        var rawKey = eq < 0 ? pair : pair[..eq];
        // Only keys that can decode to "auth[…]" need decoding: they start with "auth" (letters are
        // never percent-encoded by http_build_query, but a hand-made body might, so decode then).
        if (rawKey.Length < 6 || (rawKey[0] | 0x20) is not ('a' or '%'))
        {
            return false;
        }

        Span<byte> decoded = stackalloc byte[64];
        if (rawKey.Length > decoded.Length * 3)
        {
            return false;
        }

        var n = 0;
        for (var i = 0; i < rawKey.Length && n < decoded.Length; i++)
        {
            var b = rawKey[i];
            if (b == (byte)'%' && i + 2 < rawKey.Length
                && byte.TryParse(rawKey.Slice(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var h))
            {
                decoded[n++] = h;
                i += 2;
            }
            else
            {
                decoded[n++] = b == (byte)'+' ? (byte)' ' : b;
            }
        }

        var key = decoded[..n];
        return key.SequenceEqual("auth[access_token]"u8) || key.SequenceEqual("auth[refresh_token]"u8) || key.SequenceEqual("auth[application_token]"u8);
    }

    /// <summary>The JSON body re-serialised without the token fields of its auth object, UTF-8.</summary>
    public static ReadOnlyMemory<byte> RedactJson(ReadOnlySpan<byte> body)
    {
        var node = JsonNode.Parse(body.ToArray())!;
        if (node["auth"] is JsonObject auth)
        {
            foreach (var field in SecretAuthFields)
            {
                auth.Remove(field);
            }
        }

        var output = new ArrayBufferWriter<byte>(body.Length);
        using (var writer = new System.Text.Json.Utf8JsonWriter(output))
        {
            node.WriteTo(writer);
        }

        return output.WrittenMemory;
    }

    // DedupKey's scratch space, one per thread; one grown past 16 KiB by a big body is let go after use.
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_keyBuffer;

    /// <summary>
    /// Same event, same key: the event name, the portal, <c>ts</c> and the <c>data</c> block,
    /// whatever the auth block (tokens differ between deliveries) and whatever the encoding (form or
    /// JSON, key order). The portal is part of it so two portals' identical events never merge.
    /// </summary>
    /// <remarks>
    /// 64 hex digits: <c>ts</c> (16) then 192 bits of SHA-256 (48). Leading with the send time makes
    /// the unique index grow at its end, as the journal does, instead of at random places: one
    /// commit then touches a few index pages rather than one page per event.
    /// </remarks>
    public static string DedupKey(Bitrix24Event ev, FormNode root)
    {
        ArgumentNullException.ThrowIfNull(ev);
        ArgumentNullException.ThrowIfNull(root);
        // One buffer per thread, reused: the canonical form is hashed and dropped (it was a 1 KiB array
        // per event, a tenth of what receiving one allocated).
        var buffer = t_keyBuffer ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        Append(buffer, "v1");
        Append(buffer, ev.Name);
        Append(buffer, ev.Auth.MemberId ?? string.Empty);
        var ts = root.GetString("ts") ?? string.Empty;
        Append(buffer, ts);
        AppendTree(buffer, ev.Data);

        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(buffer.WrittenSpan, digest);
        if (buffer.Capacity > 16 * 1024)
        {
            t_keyBuffer = null;
        }

        var seconds = long.TryParse(ts, NumberStyles.None, CultureInfo.InvariantCulture, out var t) ? t : 0;
        Span<char> key = stackalloc char[64];
        seconds.TryFormat(key[..16], out _, "x16", CultureInfo.InvariantCulture);
        Convert.TryToHexStringLower(digest[..24], key[16..], out _);
        return new string(key);
    }

    private static void AppendTree(ArrayBufferWriter<byte> buffer, FormNode node)
    {
        if (node.IsValue)
        {
            Append(buffer, "=");
            Append(buffer, node.Value);
            return;
        }

        Append(buffer, "{");
        var children = node.Children;
        if (children.Count > 1)
        {
            var sorted = new KeyValuePair<string, FormNode>[children.Count];
            for (var i = 0; i < sorted.Length; i++)
            {
                sorted[i] = children[i];
            }

            Array.Sort(sorted, static (a, b) => string.CompareOrdinal(a.Key, b.Key));
            children = sorted;
        }

        foreach (var (key, child) in children)
        {
            Append(buffer, key);
            AppendTree(buffer, child);
        }

        Append(buffer, "}");
    }

    // Length-prefixed, so ("ab","c") and ("a","bc") hash differently.
    private static void Append(ArrayBufferWriter<byte> buffer, string text)
    {
        var count = Encoding.UTF8.GetByteCount(text);
        var span = buffer.GetSpan(4 + count);
        BinaryPrimitives.WriteInt32LittleEndian(span, count);
        Encoding.UTF8.GetBytes(text, span[4..]);
        buffer.Advance(4 + count);
    }
}
