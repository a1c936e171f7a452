using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Switchboard.Bitrix24.Wire;

/// <summary>
/// Decodes <c>application/x-www-form-urlencoded</c> bodies the way Bitrix24 builds them: PHP's
/// <c>http_build_query</c> with PHP-style bracket keys (<c>data[CALL_ID]</c>, <c>data[FIELDS][ID]</c>,
/// <c>data[X][0]</c>, <c>data[X][]</c>), <c>+</c> for space and percent-encoded UTF-8.
/// </summary>
/// <remarks>
/// The Bitrix24 docs (api-reference/events/index.md, "What Comes to the Handler") say events are POSTed
/// form-encoded, and the official PHP SDK decodes them with <c>parse_str</c>
/// (b24phpsdk src/Services/RemoteEventsFactory.php). This parser follows <c>parse_str</c> where it is
/// well defined and is stricter where PHP silently guesses: a malformed escape, invalid UTF-8, an
/// unbalanced bracket or a repeated key is an error here, because a body that PHP would have to
/// guess about did not come from Bitrix24 and a repeated <c>auth[application_token]</c> is an attack.
/// </remarks>
public static class PhpFormParser
{
    /// <summary>Decodes a form body into a tree.</summary>
    public static FormParseResult Parse(ReadOnlySpan<byte> body, FormLimits? limits = null)
    {
        limits ??= FormLimits.Default;

        // The raw bytes too, not only what the percent-escapes decode to: http_build_query escapes every
        // byte outside ASCII, so a raw byte that is not UTF-8 (0xC3 then "%A9", which decodes to "é") did
        // not come from it, and a journal that stores the body as UTF-8 text must not keep it.
        if (!System.Text.Unicode.Utf8.IsValid(body))
        {
            return FormParseResult.Fail(FormError.InvalidUtf8, "The body has bytes outside its %-escapes that are not valid UTF-8.");
        }

        var root = FormNode.NewMap();
        var count = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(body.Length, 64));
        var chars = ArrayPool<char>.Shared.Rent(Math.Max(limits.MaxKeyLength, 64));
        try
        {
            while (!body.IsEmpty)
            {
                var amp = body.IndexOf((byte)'&');
                var pair = amp < 0 ? body : body[..amp];
                body = amp < 0 ? default : body[(amp + 1)..];
                if (pair.IsEmpty)
                {
                    continue; // "a=1&&b=2": PHP skips empty pairs too.
                }

                if (++count > limits.MaxKeys)
                {
                    return FormParseResult.Fail(FormError.TooManyKeys, $"The body has more than {limits.MaxKeys} fields.");
                }

                var eq = pair.IndexOf((byte)'=');
                var rawKey = eq < 0 ? pair : pair[..eq];
                var rawValue = eq < 0 ? default : pair[(eq + 1)..];

                if (!TryDecode(rawKey, buffer, out var keyLength))
                {
                    return FormParseResult.Fail(FormError.BadPercentEscape, $"Field {count} has a '%' that is not followed by two hex digits in its name.");
                }

                if (keyLength > limits.MaxKeyLength)
                {
                    return FormParseResult.Fail(FormError.KeyTooLong, $"Field {count} has a name longer than {limits.MaxKeyLength} bytes.");
                }

                if (!Utf8.IsValid(buffer.AsSpan(0, keyLength)))
                {
                    return FormParseResult.Fail(FormError.InvalidUtf8, $"Field {count} has a name that is not valid UTF-8.");
                }

                if (buffer.AsSpan(0, keyLength).Contains((byte)0))
                {
                    return FormParseResult.Fail(FormError.NulCharacter, $"Field {count} has a NUL character (%00) in its name.");
                }

                // The name stays in a rented buffer: only its segments become strings, and the common
                // ones (data, auth, CALL_ID, …) are shared rather than allocated per request.
                var keyChars = Encoding.UTF8.GetChars(buffer.AsSpan(0, keyLength), chars);
                var key = new ReadOnlySpan<char>(chars, 0, keyChars);

                if (!TryDecode(rawValue, buffer, out var valueLength))
                {
                    return FormParseResult.Fail(FormError.BadPercentEscape, $"The value of '{FieldLabel(key)}' has a '%' that is not followed by two hex digits.");
                }

                if (valueLength > limits.MaxValueLength)
                {
                    return FormParseResult.Fail(FormError.ValueTooLong, $"The value of '{FieldLabel(key)}' is longer than {limits.MaxValueLength} bytes.");
                }

                if (!Utf8.IsValid(buffer.AsSpan(0, valueLength)))
                {
                    return FormParseResult.Fail(FormError.InvalidUtf8, $"The value of '{FieldLabel(key)}' is not valid UTF-8.");
                }

                // A literal 0x00 or %00: valid UTF-8, but in no Bitrix24 field, and PostgreSQL refuses it in
                // text, which would fail the whole group commit it shares with other portals' events.
                if (buffer.AsSpan(0, valueLength).Contains((byte)0))
                {
                    return FormParseResult.Fail(FormError.NulCharacter, $"The value of '{FieldLabel(key)}' has a NUL character (%00).");
                }

                var value = valueLength == 0 ? string.Empty : Encoding.UTF8.GetString(buffer, 0, valueLength);
                var inserted = Insert(root, key, value, limits);
                if (inserted is { } failure)
                {
                    return failure;
                }
            }

            return FormParseResult.Ok(root);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            ArrayPool<char>.Shared.Return(chars);
        }
    }

    /// <summary>Decodes a form body held in a string (tests, tools).</summary>
    public static FormParseResult Parse(string body, FormLimits? limits = null) => Parse(Encoding.UTF8.GetBytes(body), limits);

    private static FormParseResult? Insert(FormNode root, ReadOnlySpan<char> key, string value, FormLimits limits)
    {
        var open = key.IndexOf('[');
        var baseName = open < 0 ? key : key[..open];
        if (baseName.Length == 0)
        {
            return FormParseResult.Fail(FormError.MalformedKey, $"The field name '{FieldLabel(key)}' is empty before its first '['.");
        }

        if (baseName.Contains(']'))
        {
            return FormParseResult.Fail(FormError.MalformedKey, $"The field name '{FieldLabel(key)}' has a ']' with no '[' before it.");
        }

        // Walk the segments while inserting, so a deep key costs at most MaxDepth steps.
        var node = root;
        var segment = baseName;
        var depth = 1;
        var position = open;
        while (true)
        {
            var hasNext = false;
            ReadOnlySpan<char> next = default;
            if (position >= 0 && position < key.Length)
            {
                if (key[position] != '[')
                {
                    return FormParseResult.Fail(FormError.MalformedKey, $"The field name '{FieldLabel(key, position)}' has text after a ']'.");
                }

                var close = key[(position + 1)..].IndexOf(']');
                if (close < 0)
                {
                    return FormParseResult.Fail(FormError.MalformedKey, $"The field name '{FieldLabel(key)}' has a '[' that is never closed.");
                }

                next = key.Slice(position + 1, close);
                hasNext = true;
                if (next.Contains('['))
                {
                    return FormParseResult.Fail(FormError.MalformedKey, $"The field name '{FieldLabel(key)}' has a '[' inside brackets.");
                }

                position += close + 2;
                if (++depth > limits.MaxDepth)
                {
                    return FormParseResult.Fail(FormError.TooDeep, $"The field name '{FieldLabel(key)}' is nested deeper than {limits.MaxDepth} levels.");
                }
            }

            // "key[]": PHP appends at one past the largest integer key.
            string? appended = segment.Length == 0 ? node.NextIndex().ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
            var existing = node.Find(appended ?? segment);
            if (!hasNext)
            {
                if (existing is not null)
                {
                    return FormParseResult.Fail(FormError.DuplicateKey, $"The field '{FieldLabel(key)}' appears more than once.");
                }

                node.Add(appended ?? FieldNames.Get(segment), FormNode.FromValue(value));
                return null;
            }

            if (existing is null)
            {
                existing = FormNode.NewMap();
                node.Add(appended ?? FieldNames.Get(segment), existing);
            }
            else if (existing.IsValue)
            {
                return FormParseResult.Fail(FormError.DuplicateKey, $"The field '{FieldLabel(key)}' is both a value and a group of fields.");
            }

            node = existing;
            segment = next;
        }
    }

    /// <summary>Percent-decodes into <paramref name="output"/>, '+' as space. False on a bad escape.</summary>
    private static bool TryDecode(ReadOnlySpan<byte> input, byte[] output, out int length)
    {
        length = 0;
        for (var i = 0; i < input.Length; i++)
        {
            var b = input[i];
            if (b == (byte)'+')
            {
                output[length++] = (byte)' ';
            }
            else if (b == (byte)'%')
            {
                if (i + 2 >= input.Length)
                {
                    return false;
                }

                var hi = HexValue(input[i + 1]);
                var lo = HexValue(input[i + 2]);
                if (hi < 0 || lo < 0)
                {
                    return false;
                }

                output[length++] = (byte)((hi << 4) | lo);
                i += 2;
            }
            else
            {
                output[length++] = b;
            }
        }

        return true;
    }

    private static int HexValue(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };

    /// <summary>Longest field name an error message shows, in characters, before "…".</summary>
    internal const int MaxLabelLength = 32;

    /// <summary>
    /// How an error message names a field: a bounded prefix of its name, control characters shown as
    /// '?' so a hostile key cannot forge lines in a log, and anything under <c>auth</c> only as
    /// <c>auth[…]</c>. A name is text from the body, and a body whose '=' was lost glues a value onto
    /// the name (<c>auth[application_token]51610fef…</c>): only the well-formed part
    /// (<paramref name="wellFormed"/> characters) and at most <see cref="MaxLabelLength"/> of it are shown.
    /// </summary>
    internal static string FieldLabel(ReadOnlySpan<char> key, int wellFormed = int.MaxValue)
    {
        var open = key.IndexOf('[');
        var baseName = open < 0 ? key : key[..open];
        if (baseName.Equals("auth", StringComparison.OrdinalIgnoreCase))
        {
            return key.Length == baseName.Length ? "auth" : "auth[…]";
        }

        var shown = Math.Min(Math.Min(key.Length, wellFormed), MaxLabelLength);
        var text = shown < key.Length ? string.Concat(key[..shown], "…") : key.ToString();
        return text.AsSpan().ContainsAnyInRange('\u0000', '\u001f') || text.AsSpan().ContainsAnyInRange('\u007f', '\u009f')
            || text.AsSpan().ContainsAny('\u2028', '\u2029')
            ? string.Create(text.Length, text, static (chars, t) =>
            {
                for (var i = 0; i < t.Length; i++)
                {
                    chars[i] = IsLineBreaking(t[i]) ? '?' : t[i];
                }
            })
            : text;
    }

    // Control characters (C0, DEL, C1: newlines, carriage returns, terminal escapes) and the Unicode line
    // and paragraph separators: anything that could start a forged line in a log or move a terminal's cursor.
    private static bool IsLineBreaking(char c) => char.IsControl(c) || c is '\u2028' or '\u2029';
}
