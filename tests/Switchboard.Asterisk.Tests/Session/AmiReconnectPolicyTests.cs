using Switchboard.Asterisk.Session;

namespace Switchboard.Asterisk.Tests.Session;

public sealed class AmiReconnectPolicyTests
{
    private sealed class FixedRandom(double value) : Random
    {
        public override double NextDouble() => value;
    }

    [Fact]
    public void Delays_double_from_500_ms_up_to_a_30_s_cap_within_20_percent_jitter()
    {
        var policy = new AmiReconnectPolicy(random: new Random(1));

        for (var attempt = 0; attempt < 20; attempt++)
        {
            var basis = TimeSpan.FromMilliseconds(Math.Min(500 * Math.Pow(2, attempt), 30_000));
            var delay = policy.NextDelay();

            delay.Should().BeGreaterThanOrEqualTo(basis * 0.8).And.BeLessThanOrEqualTo(basis * 1.2);
            delay.Should().BeLessThanOrEqualTo(TimeSpan.FromSeconds(30));
        }
    }

    [Theory]
    [InlineData(0.0, 400, 24_000)]
    [InlineData(0.5, 500, 30_000)]
    [InlineData(0.999999, 600, 30_000)]
    public void Jitter_spans_plus_or_minus_20_percent_and_never_passes_the_cap(double draw, int firstMs, int cappedMs)
    {
        var policy = new AmiReconnectPolicy(random: new FixedRandom(draw));

        policy.NextDelay().TotalMilliseconds.Should().BeApproximately(firstMs, 0.5);
        for (var i = 0; i < 10; i++)
        {
            policy.NextDelay();
        }

        policy.NextDelay().TotalMilliseconds.Should().BeApproximately(cappedMs, 0.5);
    }

    [Fact]
    public void Reset_starts_again_from_the_initial_delay()
    {
        var policy = new AmiReconnectPolicy(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(8), new FixedRandom(0.5));
        policy.NextDelay();
        policy.NextDelay();
        policy.NextDelay().Should().Be(TimeSpan.FromSeconds(4));

        policy.Reset();

        policy.NextDelay().Should().Be(TimeSpan.FromSeconds(1));
        policy.NextDelay().Should().Be(TimeSpan.FromSeconds(2));
    }

    [Fact]
    public void An_initial_delay_over_the_cap_is_refused()
    {
        FluentActions.Invoking(() => new AmiReconnectPolicy(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5)))
            .Should().Throw<ArgumentOutOfRangeException>();
    }
}
