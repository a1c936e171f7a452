using System.Globalization;

namespace Switchboard.Asterisk.Events;

/// <summary>How typed events read AMI's text values.</summary>
internal static class AmiFields
{
    /// <summary>Null for an absent or empty field (Asterisk writes <c>Key: </c> for an unset value).</summary>
    public static string? Text(string? value) => string.IsNullOrEmpty(value) ? null : value;

    /// <summary>Null also for Asterisk's <c>&lt;unknown&gt;</c> (caller ids, an OriginateResponse without a channel).</summary>
    public static string? Known(string? value) => value == "<unknown>" ? null : Text(value);

    public static int? Int(string? value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) ? number : null;

    public static bool IsTrue(string? value) =>
        value is not null && (value.Equals("true", StringComparison.OrdinalIgnoreCase)
            || value.Equals("yes", StringComparison.OrdinalIgnoreCase)
            || value.Equals("1", StringComparison.Ordinal));

    /// <summary><c>HH:MM:SS</c> as CoreShowChannel writes it (hours may pass 24: main/manager.c, action_coreshowchannels).</summary>
    public static TimeSpan? Duration(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        var parts = value.Split(':');
        if (parts.Length != 3)
        {
            return null;
        }

        if (Int(parts[0]) is { } hours && Int(parts[1]) is { } minutes && Int(parts[2]) is { } seconds && hours >= 0)
        {
            return new TimeSpan(hours, minutes, seconds);
        }

        return null;
    }

    /// <summary><c>1796644022.153691</c>: seconds since the epoch and microseconds (main/manager.c, timestampevents).</summary>
    public static DateTimeOffset? Timestamp(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        var dot = value.IndexOf('.', StringComparison.Ordinal);
        var secondsText = dot < 0 ? value : value[..dot];
        if (!long.TryParse(secondsText, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || seconds > 253_402_300_799L)
        {
            return null;
        }

        long ticks = 0;
        if (dot >= 0)
        {
            var fraction = value[(dot + 1)..];
            if (fraction.Length is 0 or > 7 || !long.TryParse(fraction, NumberStyles.None, CultureInfo.InvariantCulture, out var digits))
            {
                return null;
            }

            ticks = digits * (long)Math.Pow(10, 7 - fraction.Length);
        }

        return DateTimeOffset.UnixEpoch.AddTicks((seconds * TimeSpan.TicksPerSecond) + ticks);
    }
}
