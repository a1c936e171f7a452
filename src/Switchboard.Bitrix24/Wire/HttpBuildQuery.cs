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
/// Values: strings as they are; <c>true</c>/<c>false</c> as "1"/"0"; integers in invariant culture;
/// <c>double</c>/<c>float</c> the way PHP prints a float here (<c>%.14G</c>: <c>0.1+0.2</c> is "0.3",
/// <c>1e20</c> is "1.0E+20"); <c>null</c> left out; dictionaries (insertion order) and lists (keys 0, 1, …)
/// nest as <c>key[sub]</c>, with the brackets themselves percent-encoded (<c>data%5BCALL_ID%5D</c>) as PHP does.
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
            case IDictionary dict:
                // Any other dictionary (Dictionary<string, int>, …) is a PHP array with keys, not a list.
                foreach (DictionaryEntry entry in dict)
                {
                    Append(sb, $"{prefix}[{Convert.ToString(entry.Key, CultureInfo.InvariantCulture)}]", entry.Value);
                }

                return;
            case double d:
                AppendPair(sb, prefix, FormatDouble(d));
                return;
            case float f:
                AppendPair(sb, prefix, FormatDouble(f));
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

    /// <summary>
    /// A float as http_build_query prints it: <c>spprintf("%.*G", precision=14)</c>, i.e. php_gcvt
    /// (main/snprintf.c): at most 14 significant digits, rounded half to even, trailing zeros dropped;
    /// exponent form (<c>1.0E+20</c>, <c>1.0E-5</c>) when the exponent is below -4 or above 13.
    /// </summary>
    private static string FormatDouble(double value)
    {
        if (double.IsNaN(value))
        {
            return "NAN";
        }

        if (double.IsInfinity(value))
        {
            return value > 0 ? "INF" : "-INF";
        }

        // "E13" is 14 significant digits, correctly rounded half to even like zend_dtoa mode 2.
        var e = value.ToString("E13", CultureInfo.InvariantCulture).AsSpan();
        var negative = e[0] == '-';
        if (negative)
        {
            e = e[1..];
        }

        var mark = e.IndexOf('E');
        var digits = string.Concat(e[..1], e[2..mark]).TrimEnd('0');
        var decpt = int.Parse(e[(mark + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) + 1;
        if (digits.Length == 0)
        {
            digits = "0";
            decpt = 1;
        }

        var sb = new StringBuilder(24);
        if (negative)
        {
            sb.Append('-');
        }

        if (decpt < 0 ? decpt < -3 : decpt > 14)
        {
            var exponent = decpt - 1;
            sb.Append(digits[0]).Append('.').Append(digits.Length > 1 ? digits.AsSpan(1) : "0")
              .Append('E').Append(exponent < 0 ? '-' : '+')
              .Append(Math.Abs(exponent).ToString(CultureInfo.InvariantCulture));
        }
        else if (decpt <= 0)
        {
            sb.Append("0.").Append('0', -decpt).Append(digits);
        }
        else if (digits.Length <= decpt)
        {
            sb.Append(digits).Append('0', decpt - digits.Length);
        }
        else
        {
            sb.Append(digits.AsSpan(0, decpt)).Append('.').Append(digits.AsSpan(decpt));
        }

        return sb.ToString();
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
