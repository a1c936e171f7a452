namespace Switchboard.Bitrix24.Tests.Support;

/// <summary>Builds ordered PHP-array-like maps for <see cref="Bitrix24.Wire.HttpBuildQuery"/>.</summary>
internal static class Php
{
    /// <summary>An ordered map, like a PHP array literal <c>['a' =&gt; 1, 'b' =&gt; 2]</c>.</summary>
    public static List<KeyValuePair<string, object?>> Map(params (string Key, object? Value)[] pairs) =>
        [.. pairs.Select(p => new KeyValuePair<string, object?>(p.Key, p.Value))];

    /// <summary>A PHP list <c>['a', 'b']</c>: keys 0, 1, ….</summary>
    public static List<object?> List(params object?[] items) => [.. items];
}
