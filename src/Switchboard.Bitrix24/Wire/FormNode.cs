using System.Diagnostics.CodeAnalysis;

namespace Switchboard.Bitrix24.Wire;

/// <summary>
/// One node of a decoded event body: either a string value (every value on Bitrix24's wire is a
/// string) or an ordered map of child nodes. PHP-style keys (<c>data[CALL_ID]</c>) and JSON objects
/// both decode to this tree; indexed arrays (<c>data[X][0]</c>, JSON arrays) are maps keyed "0", "1", ….
/// </summary>
public sealed class FormNode
{
    private readonly string? _value;
    private readonly List<KeyValuePair<string, FormNode>>? _children;
    private Dictionary<string, FormNode>? _index;

    private FormNode(string? value, List<KeyValuePair<string, FormNode>>? children)
    {
        _value = value;
        _children = children;
    }

    /// <summary>An empty map, the shape of an absent <c>data</c> block.</summary>
    public static FormNode EmptyMap { get; } = new(null, []);

    /// <summary>Creates a value node.</summary>
    public static FormNode FromValue(string value) => new(value ?? throw new ArgumentNullException(nameof(value)), null);

    internal static FormNode NewMap() => new(null, new List<KeyValuePair<string, FormNode>>(8));

    /// <summary>True for a string value, false for a map.</summary>
    [MemberNotNullWhen(true, nameof(Value))]
    public bool IsValue => _value is not null;

    /// <summary>The string value, or null for a map.</summary>
    public string? Value => _value;

    /// <summary>The children of a map in arrival order; empty for a value.</summary>
    public IReadOnlyList<KeyValuePair<string, FormNode>> Children => (IReadOnlyList<KeyValuePair<string, FormNode>>?)_children ?? [];

    /// <summary>The child with this key, or null.</summary>
    public FormNode? this[string key] => TryGet(key, out var node) ? node : null;

    /// <summary>Looks a child up by its exact key.</summary>
    public bool TryGet(string key, [NotNullWhen(true)] out FormNode? node)
    {
        node = null;
        if (_children is null)
        {
            return false;
        }

        if (_index is not null)
        {
            return _index.TryGetValue(key, out node);
        }

        foreach (var (k, v) in _children)
        {
            if (string.Equals(k, key, StringComparison.Ordinal))
            {
                node = v;
                return true;
            }
        }

        return false;
    }

    /// <summary>The child with this key, or null, without allocating the key.</summary>
    internal FormNode? Find(ReadOnlySpan<char> key)
    {
        if (_children is null)
        {
            return null;
        }

        if (_index is not null)
        {
            return _index.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(key, out var hit) ? hit : null;
        }

        foreach (var (k, v) in _children)
        {
            if (key.SequenceEqual(k))
            {
                return v;
            }
        }

        return null;
    }

    /// <summary>The value of a child that is a value node, or null when absent or a map.</summary>
    public string? GetString(string key) => this[key]?.Value;

    /// <summary>Number of value nodes in this subtree.</summary>
    public int CountValues()
    {
        if (IsValue)
        {
            return 1;
        }

        var n = 0;
        foreach (var (_, child) in Children)
        {
            n += child.CountValues();
        }

        return n;
    }

    internal void Add(string key, FormNode child)
    {
        var children = _children ?? throw new InvalidOperationException("A value node has no children.");
        children.Add(new(key, child));
        if (_index is not null)
        {
            _index.Add(key, child);
        }
        else if (children.Count > 16)
        {
            // Small maps (every real event block) are searched linearly; big ones get an index so
            // that a body with many keys stays O(n) to parse.
            _index = new Dictionary<string, FormNode>(StringComparer.Ordinal);
            foreach (var (k, v) in children)
            {
                _index.Add(k, v);
            }
        }
    }

    /// <summary>
    /// Next free integer key, the way PHP picks it for <c>key[]</c>: one past the largest integer key,
    /// or 0 when there is none. Only canonical decimal keys are integer keys in PHP ("5", "-3"), not
    /// "07", "+5" or "-0", which stay strings.
    /// </summary>
    internal long NextIndex()
    {
        long? largest = null;
        foreach (var (k, _) in Children)
        {
            if (IsPhpIntegerKey(k, out var i) && (largest is null || i > largest))
            {
                largest = i;
            }
        }

        return largest is { } n ? (n == long.MaxValue ? n : n + 1) : 0;
    }

    private static bool IsPhpIntegerKey(string key, out long value)
    {
        value = 0;
        var digits = key.StartsWith('-') ? key.AsSpan(1) : key.AsSpan();
        if (digits.IsEmpty || (digits[0] == '0' && (digits.Length > 1 || key.Length > 1)))
        {
            return false;
        }

        foreach (var c in digits)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return long.TryParse(key, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out value);
    }
}
