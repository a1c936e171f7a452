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
            mediaType == FormType ? RedactForm(body, root["auth"]) : RedactJson(body),
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
    /// The form body as it arrived, pair for pair, without its secrets: the journal keeps Bitrix24's
    /// exact bytes (useful when its format changes) but no token. Removed: every field under
    /// <c>auth</c> (in any case) but the plain ones the journal's readers need (<see cref="KeptAuthFields"/>),
    /// so a token under a misspelled name (<c>auth[refresh_tokn]</c>) goes too; a field whose value has
    /// an auth field glued onto it (a lost '&amp;': <c>auth[domain]=x.bitrix24.comauth[refresh_token]=…</c>);
    /// and any field whose value equals one of the event's secrets (the values of the removed auth
    /// fields, the application token among them: the portal's own, once verified).
    /// </summary>
    /// <param name="body">The body, already accepted by the parser, so every key decodes.</param>
    /// <param name="auth">The parsed <c>auth</c> group, whose removed fields' values are the secrets; null: none.</param>
    /// <returns>The stored body, UTF-8: written straight into the array it is kept in (the redacted body
    /// is never longer than the body), not copied out of a scratch buffer.</returns>
    public static ReadOnlyMemory<byte> RedactForm(ReadOnlySpan<byte> body, FormNode? auth = null)
    {
        var output = new byte[body.Length];
        var length = 0;
        var rest = body;
        while (!rest.IsEmpty)
        {
            var amp = rest.IndexOf((byte)'&');
            var pair = amp < 0 ? rest : rest[..amp];
            rest = amp < 0 ? default : rest[(amp + 1)..];
            if (pair.IsEmpty || IsSecret(pair, auth))
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

    /// <summary>The fields of <c>auth</c> the journal keeps: who sent the event, never a credential.</summary>
    public static IReadOnlyList<string> KeptAuthFields => KeptAuth;

    // An array, looped by index: enumerating an IReadOnlyList allocates an enumerator, and this runs
    // for every auth field and every long value of every event.
    private static readonly string[] KeptAuth =
        ["member_id", "domain", "client_endpoint", "server_endpoint", "scope", "status", "expires", "expires_in", "user_id"];

    // Shorter values are not compared with the secrets: every Bitrix24 token is 32 characters or more,
    // and a misspelled auth field holding "1" must not take every "1" in the body with it.
    private const int MinSecretLength = 8;

    private static bool IsSecret(ReadOnlySpan<byte> pair, FormNode? auth)
    {
        var eq = pair.IndexOf((byte)'=');
        var rawKey = eq < 0 ? pair : pair[..eq];
        var rawValue = eq < 0 ? default : pair[(eq + 1)..];

        // Only keys that can decode to "auth…" need decoding: they start with "a" or "A" (letters are
        // never percent-encoded by http_build_query, but a hand-made body might, so decode then).
        if (rawKey.Length >= 4 && (rawKey[0] | 0x20) is 'a' or '%')
        {
            Span<byte> decoded = stackalloc byte[64];
            var key = DecodePrefix(rawKey, decoded);
            if (key.Length >= 4 && Ascii.EqualsIgnoreCase(key[..4], "auth"u8) && (key.Length == 4 || key[4] == (byte)'['))
            {
                return !IsKeptAuthField(key) || GluesAuthField(rawValue) || EqualsASecret(rawValue, auth);
            }
        }

        return GluesAuthField(rawValue) || EqualsASecret(rawValue, auth);
    }

    // Decodes at most decoded.Length bytes of a key: enough to tell an auth field and name a kept one.
    private static ReadOnlySpan<byte> DecodePrefix(ReadOnlySpan<byte> raw, Span<byte> decoded)
    {
        var n = 0;
        for (var i = 0; i < raw.Length && n < decoded.Length; i++)
        {
            var b = raw[i];
            if (b == (byte)'%' && i + 2 < raw.Length
                && byte.TryParse(raw.Slice(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var h))
            {
                decoded[n++] = h;
                i += 2;
            }
            else
            {
                decoded[n++] = b == (byte)'+' ? (byte)' ' : b;
            }
        }

        return decoded[..n];
    }

    private static bool IsKeptAuthField(ReadOnlySpan<byte> key)
    {
        if (key.Length < 7 || !key.StartsWith("auth["u8) || key[^1] != (byte)']')
        {
            return false;
        }

        var name = key[5..^1];
        foreach (var kept in KeptAuth)
        {
            if (Ascii.Equals(name, kept))
            {
                return true;
            }
        }

        return false;
    }

    // http_build_query escapes every '=' in a value (%3D): a raw one means two pairs lost the '&' between
    // them, and when the second is an auth field its token is inside this value.
    private static bool GluesAuthField(ReadOnlySpan<byte> rawValue) =>
        rawValue.Contains((byte)'=') && (IndexOfIgnoreCase(rawValue, "auth["u8) >= 0 || IndexOfIgnoreCase(rawValue, "auth%5b"u8) >= 0);

    private static int IndexOfIgnoreCase(ReadOnlySpan<byte> text, ReadOnlySpan<byte> lowerAscii)
    {
        for (var i = 0; i + lowerAscii.Length <= text.Length; i++)
        {
            if (Ascii.EqualsIgnoreCase(text.Slice(i, lowerAscii.Length), lowerAscii))
            {
                return i;
            }
        }

        return -1;
    }

    private static bool EqualsASecret(ReadOnlySpan<byte> rawValue, FormNode? auth)
    {
        if (auth is null || auth.IsValue || rawValue.Length < MinSecretLength)
        {
            return false;
        }

        // A percent-encoded value is never shorter than its text, so most values are ruled out by length.
        var buffer = rawValue.IndexOfAny((byte)'%', (byte)'+') < 0 ? null : ArrayPool<byte>.Shared.Rent(rawValue.Length);
        try
        {
            var value = buffer is null ? rawValue : DecodePrefix(rawValue, buffer);
            var children = auth.Children;
            for (var i = 0; i < children.Count; i++)
            {
                var (name, node) = children[i];
                if (node.IsValue && node.Value.Length >= MinSecretLength && Utf8Equals(value, node.Value) && !IsKeptAuthName(name))
                {
                    return true;
                }
            }

            return false;
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private static bool IsKeptAuthName(string name)
    {
        foreach (var kept in KeptAuth)
        {
            if (string.Equals(name, kept, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static bool Utf8Equals(ReadOnlySpan<byte> utf8, string text)
    {
        if (Ascii.IsValid(text))
        {
            return utf8.Length == text.Length && Ascii.Equals(utf8, text);
        }

        return Encoding.UTF8.GetByteCount(text) == utf8.Length && Encoding.UTF8.GetString(utf8) == text;
    }

    /// <summary>
    /// The JSON body re-serialised without its secrets, UTF-8: the same rule as <see cref="RedactForm"/>
    /// (only <see cref="KeptAuthFields"/> stay under <c>auth</c>, a property named <c>auth</c> in another
    /// case goes whole, and a string anywhere that equals a removed auth value goes too).
    /// </summary>
    public static ReadOnlyMemory<byte> RedactJson(ReadOnlySpan<byte> body)
    {
        var node = JsonNode.Parse(body.ToArray())!;
        List<string>? secrets = null;
        if (node is JsonObject root)
        {
            List<string>? drop = null;
            foreach (var (name, value) in root)
            {
                if (name.Equals("auth", StringComparison.OrdinalIgnoreCase))
                {
                    if (name == "auth" && value is JsonObject auth)
                    {
                        RedactAuth(auth, ref secrets);
                    }
                    else
                    {
                        CollectStrings(value, ref secrets);
                        (drop ??= []).Add(name);
                    }
                }
            }

            foreach (var name in drop ?? [])
            {
                root.Remove(name);
            }

            if (secrets is not null)
            {
                RemoveSecrets(root, secrets);
            }
        }

        var output = new ArrayBufferWriter<byte>(body.Length);
        using (var writer = new System.Text.Json.Utf8JsonWriter(output))
        {
            node.WriteTo(writer);
        }

        return output.WrittenMemory;
    }

    private static void RedactAuth(JsonObject auth, ref List<string>? secrets)
    {
        List<string>? drop = null;
        foreach (var (name, value) in auth)
        {
            if (!IsKeptAuthName(name) || value is JsonObject or JsonArray)
            {
                CollectStrings(value, ref secrets);
                (drop ??= []).Add(name);
            }
        }

        foreach (var name in drop ?? [])
        {
            auth.Remove(name);
        }
    }

    private static void CollectStrings(JsonNode? node, ref List<string>? secrets)
    {
        switch (node)
        {
            case JsonValue v when v.TryGetValue<string>(out var text) && text.Length >= MinSecretLength:
                (secrets ??= []).Add(text);
                break;
            case JsonObject o:
                foreach (var (_, child) in o)
                {
                    CollectStrings(child, ref secrets);
                }

                break;
            case JsonArray a:
                foreach (var child in a)
                {
                    CollectStrings(child, ref secrets);
                }

                break;
        }
    }

    private static void RemoveSecrets(JsonNode? node, List<string> secrets)
    {
        if (node is JsonObject o)
        {
            List<string>? drop = null;
            foreach (var (name, child) in o)
            {
                if (child is JsonValue v && v.TryGetValue<string>(out var text) && secrets.Contains(text))
                {
                    (drop ??= []).Add(name);
                }
                else
                {
                    RemoveSecrets(child, secrets);
                }
            }

            foreach (var name in drop ?? [])
            {
                o.Remove(name);
            }
        }
        else if (node is JsonArray a)
        {
            for (var i = a.Count - 1; i >= 0; i--)
            {
                if (a[i] is JsonValue v && v.TryGetValue<string>(out var text) && secrets.Contains(text))
                {
                    a.RemoveAt(i);
                }
                else
                {
                    RemoveSecrets(a[i], secrets);
                }
            }
        }
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
