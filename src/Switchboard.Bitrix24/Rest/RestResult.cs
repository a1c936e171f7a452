using System.Diagnostics.CodeAnalysis;

namespace Switchboard.Bitrix24.Rest;

/// <summary>The outcome of a REST call: a value or a <see cref="RestError"/>. Expected failures are
/// results, not exceptions (house style); exceptions are left for bugs and cancellation.</summary>
/// <typeparam name="T">The success value.</typeparam>
public sealed record RestResult<T>
{
    private RestResult(T? value, RestError? error, int attempts)
    {
        Value = value;
        Error = error;
        Attempts = attempts;
    }

    /// <summary>The value on success.</summary>
    public T? Value { get; }

    /// <summary>The failure, or null on success.</summary>
    public RestError? Error { get; }

    /// <summary>HTTP attempts made (redirect and refresh repeats included).</summary>
    public int Attempts { get; }

    /// <summary>True when <see cref="Value"/> holds the answer.</summary>
    [MemberNotNullWhen(true, nameof(Value))]
    [MemberNotNullWhen(false, nameof(Error))]
    public bool IsSuccess => Error is null;

#pragma warning disable CA1000 // RestResult<T>.Success(...) reads better at call sites than a non-generic factory.
    /// <summary>A success.</summary>
    public static RestResult<T> Success(T value, int attempts = 1) => new(value, null, attempts);

    /// <summary>A failure.</summary>
    public static RestResult<T> Failure(RestError error, int attempts = 1) =>
        new(default, error ?? throw new ArgumentNullException(nameof(error)), attempts);
#pragma warning restore CA1000

    /// <summary>Maps the value, keeping a failure as it is.</summary>
    public RestResult<TOut> Map<TOut>(Func<T, TOut> map)
    {
        ArgumentNullException.ThrowIfNull(map);
        return IsSuccess ? RestResult<TOut>.Success(map(Value), Attempts) : RestResult<TOut>.Failure(Error, Attempts);
    }
}
