using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Switchboard.Bitrix24.Wire;

/// <summary>
/// Decodes an <c>application/json</c> event body of the same shape as the form one (the docs print
/// events as JSON for readability) into the same tree, with the values PHP's
/// <c>http_build_query</c> would have put on the wire: numbers as their text, <c>true</c>/<c>false</c>
/// as "1"/"0", <c>null</c> left out, arrays as maps keyed "0", "1", ….
/// </summary>
public static class JsonEventBodyParser
{
    /// <summary>Decodes a JSON body into a tree.</summary>
    public static FormParseResult Parse(ReadOnlySpan<byte> body, FormLimits? limits = null)
    {
        limits ??= FormLimits.Default;
        var reader = new Utf8JsonReader(body, new JsonReaderOptions
        {
            // Depth counts the root object, so "data":{"FIELDS":{"ID":…}} is depth 3 like data[FIELDS][ID].
            MaxDepth = limits.MaxDepth + 1,
            CommentHandling = JsonCommentHandling.Disallow,
            AllowTrailingCommas = false,
        });

        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return FormParseResult.Fail(FormError.WrongShape, "The JSON body must be an object like {\"event\": …, \"data\": {…}, \"auth\": {…}}.");
            }

            var root = FormNode.NewMap();
            var count = 0;
            var failure = ReadContainer(ref reader, root, isArray: false, depth: 1, underAuth: false, limits, ref count);
            if (failure is { } f)
            {
                return f;
            }

            if (reader.Read())
            {
                return FormParseResult.Fail(FormError.InvalidJson, "The JSON body has text after its closing brace.");
            }

            return FormParseResult.Ok(root);
        }
        catch (JsonException) when (reader.CurrentDepth > limits.MaxDepth)
        {
            // Not by the message: "Expected depth to be zero at the end of the JSON payload" is the
            // reader's complaint about a truncated body such as "{", which is invalid, not too deep.
            return FormParseResult.Fail(FormError.TooDeep, $"The JSON body is nested deeper than {limits.MaxDepth} levels.");
        }
        catch (InvalidOperationException)
        {
            // A string escape that is not valid UTF-16 (a lone surrogate such as \uD800).
            return FormParseResult.Fail(FormError.InvalidUtf8, "The JSON body has a string that is not valid Unicode.");
        }
        catch (JsonException ex)
        {
            // The reader's message names a line and byte position, never the content.
            return FormParseResult.Fail(FormError.InvalidJson, $"The body is not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1}).");
        }
    }

    private static FormParseResult? ReadContainer(ref Utf8JsonReader reader, FormNode node, bool isArray, int depth, bool underAuth, FormLimits limits, ref int count)
    {
        var index = 0;
        HashSet<string>? nullKeys = null;
        while (reader.Read())
        {
            string key;
            if (reader.TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray)
            {
                return null;
            }

            if (isArray)
            {
                key = (index++).ToString(CultureInfo.InvariantCulture);
            }
            else
            {
                if (reader.ValueSpan.Length > limits.MaxKeyLength * 6)
                {
                    return FormParseResult.Fail(FormError.KeyTooLong, $"A JSON property name is longer than {limits.MaxKeyLength} bytes.");
                }

                key = reader.GetString()!;
                if (Encoding.UTF8.GetByteCount(key) > limits.MaxKeyLength)
                {
                    return FormParseResult.Fail(FormError.KeyTooLong, $"A JSON property name is longer than {limits.MaxKeyLength} bytes.");
                }

                if (key.Length == 0)
                {
                    return FormParseResult.Fail(FormError.MalformedKey, "A JSON property name is empty.");
                }

                reader.Read();
            }

            if (key.Contains('\0', StringComparison.Ordinal))
            {
                return FormParseResult.Fail(FormError.NulCharacter, "A JSON property name has a NUL character (\\u0000).");
            }

            // A null value is left out of the tree, so its name is remembered apart: {"x":null,"x":null}
            // is a duplicate too (JsonNode, which the journal's redaction uses, throws on any repeat).
            if (node[key] is not null || nullKeys?.Contains(key) == true)
            {
                return FormParseResult.Fail(FormError.DuplicateKey, $"The JSON property '{Label(key, underAuth)}' appears more than once.");
            }

            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject:
                case JsonTokenType.StartArray:
                    if (depth + 1 > limits.MaxDepth)
                    {
                        return FormParseResult.Fail(FormError.TooDeep, $"The JSON body is nested deeper than {limits.MaxDepth} levels.");
                    }

                    var child = FormNode.NewMap();
                    node.Add(key, child);
                    var failure = ReadContainer(ref reader, child, reader.TokenType == JsonTokenType.StartArray, depth + 1, underAuth || (depth == 1 && key == "auth"), limits, ref count);
                    if (failure is not null)
                    {
                        return failure;
                    }

                    // Values count as in a form; an empty {} or [] costs a node all the same, and a body
                    // of thousands of them must not pass the key limit.
                    if (child.Children.Count == 0 && ++count > limits.MaxKeys)
                    {
                        return TooMany(limits);
                    }

                    break;
                case JsonTokenType.Null:
                    // http_build_query leaves nulls out; counted all the same, like an empty container.
                    if (++count > limits.MaxKeys)
                    {
                        return TooMany(limits);
                    }

                    (nullKeys ??= new HashSet<string>(StringComparer.Ordinal)).Add(key);
                    break;
                default:
                    if (++count > limits.MaxKeys)
                    {
                        return TooMany(limits);
                    }

                    var value = reader.TokenType switch
                    {
                        JsonTokenType.String => reader.GetString()!,
                        JsonTokenType.True => "1",
                        JsonTokenType.False => "0",
                        _ => Encoding.UTF8.GetString(reader.ValueSpan), // a number, as written
                    };
                    if (Encoding.UTF8.GetByteCount(value) > limits.MaxValueLength)
                    {
                        return FormParseResult.Fail(FormError.ValueTooLong, $"The value of '{Label(key, underAuth)}' is longer than {limits.MaxValueLength} bytes.");
                    }

                    if (value.Contains('\0', StringComparison.Ordinal))
                    {
                        return FormParseResult.Fail(FormError.NulCharacter, $"The value of '{Label(key, underAuth)}' has a NUL character (\\u0000).");
                    }

                    node.Add(key, FormNode.FromValue(value));
                    break;
            }
        }

        return null;
    }

    // A property inside "auth" is named as auth[…] only, like a form's auth[…] field: its name is text
    // from the body, and under auth it may be a token put where a name belongs.
    private static string Label(string key, bool underAuth) => underAuth ? "auth[…]" : PhpFormParser.FieldLabel(key);

    private static FormParseResult TooMany(FormLimits limits) =>
        FormParseResult.Fail(FormError.TooManyKeys, $"The body has more than {limits.MaxKeys} fields.");
}
