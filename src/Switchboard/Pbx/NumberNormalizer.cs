using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Lib = global::PhoneNumbers;

namespace Switchboard.Pbx;

/// <summary>How a normalised number goes into the dialplan (the Originate's <c>Exten</c>).</summary>
public enum DialFormat
{
    /// <summary><c>+79161234567</c>: E.164 with its plus.</summary>
    E164,

    /// <summary>
    /// As a phone in the default country dials it: <c>89161234567</c> (RU), <c>14155551234</c> (US),
    /// <c>0301234567</c> (DE); a number abroad with the country's international prefix (<c>81049301234567</c> from RU).
    /// </summary>
    National,

    /// <summary><c>79161234567</c>: E.164 without the plus.</summary>
    Digits,
}

/// <summary>What a normalised number is.</summary>
public enum NumberKind
{
    /// <summary>Not a phone number; <see cref="NormalizedNumber.Error"/> says why.</summary>
    Invalid,

    /// <summary>A number of the public network, with its E.164 form.</summary>
    International,

    /// <summary>
    /// An internal extension or a feature code (<c>101</c>, <c>*97</c>): short numbers are not public
    /// numbers of any country, so they stay as they are.
    /// </summary>
    Internal,

    /// <summary>
    /// A national number while no default country is set: its country is unknown, so it is kept as its
    /// digits (what Switchboard did before numbers were normalised).
    /// </summary>
    Unresolved,
}

/// <summary>One regular expression → replacement rule, applied to what a trunk sends before it is normalised.</summary>
public sealed class NumberRule
{
    /// <summary>The .NET regular expression (e.g. <c>^(\d{10})$</c>).</summary>
    public string Pattern { get; set; } = string.Empty;

    /// <summary>The replacement (<c>$1</c> refers to the first group, e.g. <c>+7$1</c>).</summary>
    public string Replacement { get; set; } = string.Empty;
}

/// <summary>A number after <see cref="NumberNormalizer.Normalize"/>: its kind, its forms and, for a bad one, why.</summary>
/// <param name="Kind">What it is.</param>
/// <param name="Value">E.164 (<c>+79161234567</c>) for an international number, the digits for the other kinds, null when invalid.</param>
/// <param name="Extension">An extension suffix (<c>#12</c>, <c>;ext=12</c>, <c>x12</c>) kept apart: it is never dialled as part of the number.</param>
/// <param name="Region">The ISO 3166 country of an international number (<c>RU</c>), when known.</param>
/// <param name="Error">Why the text is not a number, in words; null otherwise.</param>
public sealed record NormalizedNumber(NumberKind Kind, string? Value, string? Extension, string? Region, string? Error)
{
    /// <summary>True unless <see cref="Kind"/> is <see cref="NumberKind.Invalid"/>.</summary>
    public bool IsValid => Kind != NumberKind.Invalid;

    internal Lib.PhoneNumber? Parsed { get; init; }

    internal static NormalizedNumber Bad(string error) => new(NumberKind.Invalid, null, null, null, error);
}

/// <summary>
/// The one normaliser every number goes through (originate now; register and CRM search later), so that
/// <c>8 (916) 123-45-67</c>, <c>+7 916 123 45 67</c> and <c>tel:+79161234567</c> are one number
/// everywhere. Parsing and the countries' prefixes come from libphonenumber (Google's metadata, kept
/// current by its releases); this class adds what a PBX and a CRM need around it: short extensions,
/// extension suffixes, per-trunk rules and the dial formats.
/// </summary>
public static partial class NumberNormalizer
{
    private static readonly Lib.PhoneNumberUtil Util = Lib.PhoneNumberUtil.GetInstance();

    /// <summary>The default longest internal extension, in digits.</summary>
    public const int DefaultMaxExtensionLength = 5;

    /// <summary>Whether <paramref name="region"/> is a country code the normaliser knows (<c>RU</c>, <c>US</c>, <c>DE</c>…).</summary>
    public static bool IsKnownRegion(string? region) =>
        region is { Length: 2 } && Util.GetSupportedRegions().Contains(region.ToUpperInvariant());

    /// <summary>
    /// Normalises <paramref name="text"/>: a <c>tel:</c> URI, punctuation and spaces of any kind, an
    /// extension suffix, the international prefixes (<c>00</c>, and the country's own: <c>810</c> in RU,
    /// <c>011</c> in NANP) and the national trunk prefix (<c>8</c> in RU, <c>0</c> in DE, <c>1</c> in NANP)
    /// are understood; numbers of at most <paramref name="maxExtensionLength"/> digits are internal.
    /// Never throws: a text that is no number gives <see cref="NumberKind.Invalid"/> with the reason.
    /// </summary>
    /// <param name="text">What a user typed, Bitrix24 sent or a trunk delivered.</param>
    /// <param name="defaultCountry">The country of numbers written without a country code (ISO 3166, <c>RU</c>); null leaves them <see cref="NumberKind.Unresolved"/>.</param>
    /// <param name="maxExtensionLength">Numbers with at most this many digits (and no <c>+</c>) are internal extensions.</param>
    /// <param name="rules">Rewrites applied first, in order, each to the result of the one before (what a trunk sends).</param>
    public static NormalizedNumber Normalize(string? text, string? defaultCountry, int maxExtensionLength = DefaultMaxExtensionLength, IReadOnlyList<(Regex Pattern, string Replacement)>? rules = null)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return NormalizedNumber.Bad("The number is empty.");
        }

        if (text.Length > 100)
        {
            return NormalizedNumber.Bad("The number is longer than 100 characters.");
        }

        var s = text.Trim();
        foreach (var (pattern, replacement) in rules ?? [])
        {
            try
            {
                s = pattern.Replace(s, replacement);
            }
            catch (RegexMatchTimeoutException)
            {
                return NormalizedNumber.Bad($"The rule '{pattern}' took too long on this number.");
            }
        }

        string? extension = null;
        if (s.StartsWith("tel:", StringComparison.OrdinalIgnoreCase))
        {
            // RFC 3966: tel:+1-415-555-1234;ext=12;phone-context=… — only ext matters here.
            var parts = s[4..].Split(';');
            s = Uri.UnescapeDataString(parts[0]);
            extension = parts.Skip(1).Select(p => p.Trim()).FirstOrDefault(p => p.StartsWith("ext=", StringComparison.OrdinalIgnoreCase))?[4..];
        }

        if (extension is null && ExtensionSuffix().Match(s) is { Success: true } m)
        {
            extension = m.Groups["ext"].Value;
            s = s[..m.Index];
        }

        if (extension is not null && (extension.Length == 0 || extension.Length > 10 || !extension.All(char.IsAsciiDigit)))
        {
            return NormalizedNumber.Bad($"The extension '{extension}' is not digits.");
        }

        var cleaned = new StringBuilder(s.Length);
        foreach (var ch in s)
        {
            if (char.IsAsciiDigit(ch))
            {
                cleaned.Append(ch);
            }
            else if (char.IsDigit(ch))
            {
                // Full-width and other scripts' digits, as pasted from documents.
                cleaned.Append((char)('0' + (int)char.GetNumericValue(ch)));
            }
            else if (ch is '+' or '＋' && cleaned.Length == 0)
            {
                cleaned.Append('+');
            }
            else if (ch is '*' or '#')
            {
                cleaned.Append(ch);
            }
            else if (!IsSeparator(ch))
            {
                return NormalizedNumber.Bad($"'{ch}' is not allowed in a phone number.");
            }
        }

        var number = cleaned.ToString();
        var digits = Digits(number);
        if (digits.Length == 0)
        {
            return NormalizedNumber.Bad("The number has no digits.");
        }

        if (number.Contains('*', StringComparison.Ordinal) || number.Contains('#', StringComparison.Ordinal))
        {
            // Feature codes (*97, *72101#) are the PBX's own; a public number never has them.
            return number[0] != '+'
                ? new NormalizedNumber(NumberKind.Internal, number, extension, null, null)
                : NormalizedNumber.Bad("'*' and '#' belong to feature codes, not to a number with a country code.");
        }

        if (number[0] != '+' && digits.Length <= maxExtensionLength)
        {
            return new NormalizedNumber(NumberKind.Internal, digits, extension, null, null);
        }

        if (number.StartsWith("00", StringComparison.Ordinal))
        {
            // The ITU's international prefix, used from most of the world; libphonenumber only knows the
            // default country's own (810 in RU, 011 in NANP), and CRM users paste numbers from everywhere.
            number = "+" + number[2..];
        }

        var region = defaultCountry?.ToUpperInvariant();
        if (number[0] != '+' && region is null)
        {
            return new NormalizedNumber(NumberKind.Unresolved, digits, extension, null, null);
        }

        Lib.PhoneNumber parsed;
        try
        {
            parsed = Util.Parse(number, region ?? "ZZ");
        }
        catch (Lib.NumberParseException ex)
        {
            return NormalizedNumber.Bad(ex.ErrorType switch
            {
                Lib.ErrorType.INVALID_COUNTRY_CODE => $"'{number}' has no known country code.",
                Lib.ErrorType.TOO_SHORT_NSN or Lib.ErrorType.TOO_SHORT_AFTER_IDD => $"'{number}' is too short for a phone number.",
                Lib.ErrorType.TOO_LONG => $"'{number}' is too long for a phone number.",
                _ => $"'{number}' is not a phone number.",
            });
        }

        // Possible (the length fits the country), not valid (the range is assigned): new ranges open
        // before the metadata knows them, and the PBX's trunk is the better judge of those.
        var fit = Util.IsPossibleNumberWithReason(parsed);
        if (fit != Lib.PhoneNumberUtil.ValidationResult.IS_POSSIBLE)
        {
            var country = Util.GetRegionCodeForNumber(parsed) ?? Util.GetRegionCodeForCountryCode(parsed.CountryCode);
            return NormalizedNumber.Bad(fit switch
            {
                Lib.PhoneNumberUtil.ValidationResult.IS_POSSIBLE_LOCAL_ONLY => $"'{text.Trim()}' is a local number of {country}: add the area code.",
                Lib.PhoneNumberUtil.ValidationResult.TOO_SHORT => $"'{text.Trim()}' is too short for a number of {country}.",
                Lib.PhoneNumberUtil.ValidationResult.TOO_LONG => $"'{text.Trim()}' is too long for a number of {country}.",
                Lib.PhoneNumberUtil.ValidationResult.INVALID_COUNTRY_CODE => $"'{text.Trim()}' has no known country code.",
                _ => $"'{text.Trim()}' does not have the length of a number of {country}.",
            });
        }

        return new NormalizedNumber(NumberKind.International, Util.Format(parsed, Lib.PhoneNumberFormat.E164), extension,
            Util.GetRegionCodeForNumber(parsed) ?? Util.GetRegionCodeForCountryCode(parsed.CountryCode), null)
        {
            Parsed = parsed,
        };
    }

    /// <summary>
    /// The number as the dialplan gets it in <paramref name="format"/>; internal and unresolved numbers
    /// as their digits (and feature codes as written). Null for an invalid number.
    /// </summary>
    /// <param name="number">A normalised number.</param>
    /// <param name="format">The PBX's dial format.</param>
    /// <param name="defaultCountry">The country the PBX dials from (for <see cref="DialFormat.National"/>).</param>
    public static string? Format(NormalizedNumber number, DialFormat format, string? defaultCountry)
    {
        ArgumentNullException.ThrowIfNull(number);
        if (number.Kind != NumberKind.International || number.Parsed is not { } parsed)
        {
            return number.Value;
        }

        return format switch
        {
            DialFormat.Digits => number.Value![1..],
            // FormatOutOfCountryCallingNumber gives the national form inside the country (with the
            // trunk prefix, and "1" within NANP) and the country's own international prefix abroad.
            DialFormat.National when defaultCountry is { Length: > 0 } => Digits(Util.FormatOutOfCountryCallingNumber(parsed, defaultCountry.ToUpperInvariant())),
            _ => number.Value,
        };
    }

    /// <summary>
    /// The number to dial on a PBX: <paramref name="number"/> normalised with the default country and
    /// extension length of <paramref name="pbxOptions"/> and written in <paramref name="pbx"/>'s
    /// <see cref="AsteriskPbxOptions.DialFormat"/>; null when it is not a phone number.
    /// </summary>
    public static string? ForDialling(string? number, PbxOptions pbxOptions, AsteriskPbxOptions pbx)
    {
        ArgumentNullException.ThrowIfNull(pbxOptions);
        ArgumentNullException.ThrowIfNull(pbx);
        var country = pbx.CountryOr(pbxOptions.DefaultCountry);
        var normal = Normalize(number, country, pbxOptions.MaxExtensionLength);
        return normal.IsValid ? Format(normal, pbx.DialFormat, country) : null;
    }

    /// <summary>The digits only: what makes two spellings of one number the same.</summary>
    public static string Digits(string number) => new([.. (number ?? string.Empty).Where(char.IsAsciiDigit)]);

    // Spaces of every kind (incl. NBSP, thin and narrow spaces), dashes of every kind (incl. U+2212
    // minus), dots, brackets and slashes: what people and word processors put between digits.
    private static bool IsSeparator(char ch) =>
        char.IsWhiteSpace(ch) || char.GetUnicodeCategory(ch) is UnicodeCategory.DashPunctuation or UnicodeCategory.SpaceSeparator or UnicodeCategory.Format
        || ch is '.' or '(' or ')' or '[' or ']' or '/' or '\u2212' or '\u00AD';

    // "#12", ";ext=12", "x12", "x.12", "ext 12", "ext. 12", "доб. 12" at the end. "*72#" (a feature
    // code) has no digits after its '#' and stays whole.
    [GeneratedRegex(@"(?:#|;\s*ext=|\s*(?<![a-zа-я])(?:ext(?:ension)?\.?|x\.?|доб\.?)\s*)(?<ext>\d+)\s*$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture, 100)]
    private static partial Regex ExtensionSuffix();
}
