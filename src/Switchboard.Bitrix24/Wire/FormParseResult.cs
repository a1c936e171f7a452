using System.Diagnostics.CodeAnalysis;

namespace Switchboard.Bitrix24.Wire;

/// <summary>Why a body could not be decoded.</summary>
public enum FormError
{
    /// <summary>A <c>%</c> not followed by two hex digits.</summary>
    BadPercentEscape,
    /// <summary>A key or value that is not valid UTF-8 once decoded.</summary>
    InvalidUtf8,
    /// <summary>A key like <c>data[CALL_ID</c> or <c>data]x[</c>.</summary>
    MalformedKey,
    /// <summary>A key nested deeper than <see cref="FormLimits.MaxDepth"/>.</summary>
    TooDeep,
    /// <summary>More values than <see cref="FormLimits.MaxKeys"/>.</summary>
    TooManyKeys,
    /// <summary>A key longer than <see cref="FormLimits.MaxKeyLength"/>.</summary>
    KeyTooLong,
    /// <summary>A value longer than <see cref="FormLimits.MaxValueLength"/>.</summary>
    ValueTooLong,
    /// <summary>The same key twice, or a key that is both a value and a map (<c>a=1&amp;a[b]=2</c>).</summary>
    DuplicateKey,
    /// <summary>A JSON body that does not parse.</summary>
    InvalidJson,
    /// <summary>A JSON body whose root is not an object.</summary>
    WrongShape,
    /// <summary>A key or value with a NUL character (U+0000): no Bitrix24 field has one, and PostgreSQL's text cannot store it.</summary>
    NulCharacter,
}

/// <summary>A decoded body, or the reason it could not be decoded. Expected failures are results, not exceptions.</summary>
public readonly record struct FormParseResult
{
    private FormParseResult(FormNode? root, FormError error, string? detail)
    {
        Root = root;
        Error = error;
        Detail = detail;
    }

    /// <summary>The decoded tree, or null on failure.</summary>
    public FormNode? Root { get; }

    /// <summary>The failure; meaningless when <see cref="Success"/>.</summary>
    public FormError Error { get; }

    /// <summary>A sentence for people saying what is wrong. Names keys, never quotes values.</summary>
    public string? Detail { get; }

    /// <summary>True when the body decoded.</summary>
    [MemberNotNullWhen(true, nameof(Root))]
    [MemberNotNullWhen(false, nameof(Detail))]
    public bool Success => Root is not null;

    internal static FormParseResult Ok(FormNode root) => new(root, default, null);

    internal static FormParseResult Fail(FormError error, string detail) => new(null, error, detail);
}
