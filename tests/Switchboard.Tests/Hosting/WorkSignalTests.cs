using System.Runtime.ExceptionServices;
using Switchboard.Hosting;

namespace Switchboard.Tests.Hosting;

public sealed class WorkSignalTests
{
    [Fact]
    public async Task Pulses_while_nobody_waits_collapse_into_one_wake_up()
    {
        using var signal = new WorkSignal();
        signal.Pulse();
        signal.Pulse();
        signal.Pulse();

        (await signal.WaitAsync(TimeSpan.Zero, default)).Should().BeTrue();
        (await signal.WaitAsync(TimeSpan.Zero, default)).Should().BeFalse("three pulses before the wait are one wake-up");
    }

    [Fact]
    public async Task A_pulse_wakes_a_waiter()
    {
        using var signal = new WorkSignal();
        var waiting = signal.WaitAsync(TimeSpan.FromSeconds(30), default);
        waiting.IsCompleted.Should().BeFalse();

        signal.Pulse();

        (await waiting.WaitAsync(TimeSpan.FromSeconds(10))).Should().BeTrue();
    }

    [Fact]
    public void Pulsing_a_signalled_signal_throws_nothing_not_even_a_caught_exception()
    {
        // The journal writer pulses after every commit while the ledger is mostly busy: an exception
        // thrown and caught per pulse cost the writer thread 4 % of its CPU. Counted on this thread only:
        // other tests' servers pulse their own signals meanwhile.
        using var signal = new WorkSignal();
        var thread = Environment.CurrentManagedThreadId;
        var thrown = 0;
        void Count(object? sender, FirstChanceExceptionEventArgs e)
        {
            if (Environment.CurrentManagedThreadId == thread)
            {
                Interlocked.Increment(ref thrown);
            }
        }

        AppDomain.CurrentDomain.FirstChanceException += Count;
        try
        {
            for (var i = 0; i < 1000; i++)
            {
                signal.Pulse();
            }
        }
        finally
        {
            AppDomain.CurrentDomain.FirstChanceException -= Count;
        }

        thrown.Should().Be(0);
    }
}
