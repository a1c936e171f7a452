using System.Collections;
using System.Globalization;
using System.Text;

namespace Switchboard.Bitrix24.Wire;

/// <summary>
/// PHP's <c>http_build_query($data)</c> with its defaults (PHP_QUERY_RFC1738, '&amp;' separator), the
/// encoder Bitrix24 uses for event bodies and the official SDK's tests use for fixtures
/// (b24phpsdk tests/Unit/Services/RemoteEventsFactoryTest.php). Used by the emulator, the tests and
/// the load generator so that every body they send is built the way Bitrix24 builds it.
/// </summary>
/// <remarks>
/// Values: strings as they are; <c>true</c>/<c>false</c> as "1"/"0"; numbers in invariant culture;
/// <c>null</c> left out; dictionaries (string keys, insertion order) and lists (keys 0, 1, …) nest as
/// <c>key[sub]</c>, with the brackets themselves percent-encoded (<c>data%5BCALL_ID%5D</c>) as PHP does.
/// </remarks>
public static class HttpBuildQuery
{
    /// <summary>Encodes a map of top-level fields.</summary>
    public static string Encode(IEnumerable<KeyValuePair<string, object?>> fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        var sb = new StringBuilder(256);
        foreach (var (key, value) in fields)
        {
            Append(sb, key, value);
        }

        return sb.ToString();
    }

    /// <summary>Encodes a decoded tree back to a form body (order kept).</summary>
    public static string Encode(FormNode root)
    {
        ArgumentNullException.ThrowIfNull(root);
        var sb = new StringBuilder(256);
        foreach (var (key, value) in root.Children)
        {
            Append(sb, key, value);
        }

        return sb.ToString();
    }

    private static void Append(StringBuilder sb, string prefix, object? value)
    {
        switch (value)
        {
            case null:
                return;
            case FormNode { IsValue: true } leaf:
                AppendPair(sb, prefix, leaf.Value);
                return;
            case FormNode map:
                foreach (var (k, v) in map.Children)
                {
                    Append(sb, $"{prefix}[{k}]", v);
                }

                return;
            case string s:
                AppendPair(sb, prefix, s);
                return;
            case bool b:
                AppendPair(sb, prefix, b ? "1" : "0");
                return;
            case IEnumerable<KeyValuePair<string, object?>> dict:
                foreach (var (k, v) in dict)
                {
                    Append(sb, $"{prefix}[{k}]", v);
                }

                return;
            case IEnumerable<KeyValuePair<string, string>> dict:
                foreach (var (k, v) in dict)
                {
                    Append(sb, $"{prefix}[{k}]", v);
                }

                return;
            case IFormattable f:
                AppendPair(sb, prefix, f.ToString(null, CultureInfo.InvariantCulture));
                return;
            case IEnumerable list:
                var i = 0;
                foreach (var item in list)
                {
                    Append(sb, $"{prefix}[{i++}]", item);
                }

                return;
            default:
                AppendPair(sb, prefix, value.ToString() ?? string.Empty);
                return;
        }
    }

    private static void AppendPair(StringBuilder sb, string key, string value)
    {
        if (sb.Length > 0)
        {
            sb.Append('&');
        }

        UrlEncode(sb, key);
        sb.Append('=');
        UrlEncode(sb, value);
    }

    /// <summary>PHP's <c>urlencode</c>: letters, digits and <c>-_.</c> stay, space becomes '+', every other UTF-8 byte %XX.</summary>
    public static void UrlEncode(StringBuilder sb, string text)
    {
        ArgumentNullException.ThrowIfNull(sb);
        ArgumentNullException.ThrowIfNull(text);
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in text.EnumerateRunes())
        {
            if (rune.IsAscii)
            {
                var c = (char)rune.Value;
                if (char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
                {
                    sb.Append(c);
                    continue;
                }

                if (c == ' ')
                {
                    sb.Append('+');
                    continue;
                }
            }

            var n = rune.EncodeToUtf8(utf8);
            for (var j = 0; j < n; j++)
            {
                sb.Append('%').Append(utf8[j].ToString("X2", CultureInfo.InvariantCulture));
            }
        }
    }
}
