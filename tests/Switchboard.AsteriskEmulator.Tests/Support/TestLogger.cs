using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Switchboard.AsteriskEmulator.Tests.Support;

/// <summary>Writes the emulator's log to the test's output, so a failing flow shows why.</summary>
public sealed class TestLogger<T>(ITestOutputHelper? output) : ILogger<T>
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        try
        {
            output?.WriteLine($"[{logLevel}] {formatter(state, exception)} {exception}");
        }
        catch (InvalidOperationException)
        {
            // The test has finished.
        }
    }
}
