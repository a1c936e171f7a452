using Switchboard.Bitrix24.Limits;
using Switchboard.Bitrix24.Rest;

namespace Switchboard.Bitrix24.Tests.Rest;

[CollectionDefinition(nameof(RateLimitTests), DisableParallelization = true)]
public sealed class RateLimitTiming;

/// <summary>Alone in its collection: it measures timing at the server, which other tests' CPU load would blur.</summary>
[Collection(nameof(RateLimitTests))]
public sealed class RateLimitTests
{
    [Fact]
    public void A_burst_of_120_at_2_per_second_with_burst_50_sends_50_at_once_then_one_every_half_second()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 3, 7, 10, 0, 0, TimeSpan.Zero));
        var bucket = new LeakyBucket(new RateLimit(2, 50), clock);
        var start = clock.GetUtcNow();

        var sentAt = Enumerable.Range(0, 120).Select(_ => Take(bucket, clock) - start).ToList();

        sentAt.Take(50).Should().OnlyContain(d => d == TimeSpan.Zero);
        sentAt[50].TotalSeconds.Should().BeApproximately(0.5, 0.002);
        sentAt[119].TotalSeconds.Should().BeApproximately(35, 0.05);
        NeverOverTheBucket(sentAt, 2, 50);
    }

    [Fact]
    public void The_bucket_drains_while_idle_and_refills_to_burst_but_not_beyond()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 3, 7, 10, 0, 0, TimeSpan.Zero));
        var bucket = new LeakyBucket(new RateLimit(5, 10), clock);
        var start = clock.GetUtcNow();
        var sent = new List<TimeSpan>();
        void Burst(int n) => sent.AddRange(Enumerable.Range(0, n).Select(_ => Take(bucket, clock) - start));

        Burst(15);
        clock.Advance(TimeSpan.FromSeconds(0.4)); // 2 drained
        Burst(3);
        clock.Advance(TimeSpan.FromMinutes(1)); // fully drained: a whole burst again, no more
        var idleEnd = clock.GetUtcNow() - start;
        Burst(12);

        sent.Skip(18).Take(10).Should().OnlyContain(s => s == idleEnd);
        sent[28].Should().BeGreaterThan(idleEnd);
        NeverOverTheBucket(sent, 5, 10);
    }

    [Fact]
    public void A_waiter_that_wakes_late_is_counted_when_it_goes_not_when_it_was_due()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 3, 7, 10, 0, 0, TimeSpan.Zero));
        var bucket = new LeakyBucket(new RateLimit(2, 3), clock);
        for (var i = 0; i < 3; i++)
        {
            bucket.TryTake(out _).Should().BeTrue();
        }

        bucket.TryTake(out var wait).Should().BeFalse();
        clock.Advance(wait * 5); // woke late: 2.5 s instead of 0.5 s; the portal's counter drained to 0 meanwhile

        var burst = Enumerable.Range(0, 5).Count(i => bucket.TryTake(out _));

        burst.Should().Be(3, "a late wake-up does not let the requests that queued behind it go together beyond the burst");
    }

    [Fact]
    public async Task A_portal_with_its_own_plan_gets_its_own_burst()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 3, 7, 10, 0, 0, TimeSpan.Zero));
        var limiter = new PortalRateLimiter(new RateLimit(2, 50), clock);

        // 250 at once for an Enterprise portal (5/s, 250): none of them waits on the (frozen) clock.
        for (var i = 0; i < 250; i++)
        {
            var wait = limiter.WaitAsync("enterprise", new RateLimit(5, 250), CancellationToken.None);
            wait.IsCompleted.Should().BeTrue($"call {i} is within the burst");
            await wait;
        }

        var next = limiter.WaitAsync("enterprise", new RateLimit(5, 250), CancellationToken.None);
        var other = limiter.WaitAsync("standard", null, CancellationToken.None);

        next.IsCompleted.Should().BeFalse("the 251st waits for the bucket to drain");
        other.IsCompleted.Should().BeTrue("portals do not share a bucket");
        clock.Advance(TimeSpan.FromSeconds(0.2)); // one slot drained; the waiter's timer (real time, this clock has none of its own) then finds room
        await next.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Headroom_leaves_part_of_the_portal_s_burst_unused_for_requests_that_arrive_bunched()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 3, 7, 10, 0, 0, TimeSpan.Zero));
        var limiter = new PortalRateLimiter(new RateLimit(2, 50), clock, headroom: 2);

        for (var i = 0; i < 48; i++)
        {
            var wait = limiter.WaitAsync("p", null, CancellationToken.None);
            wait.IsCompleted.Should().BeTrue($"call {i} is within the burst less the headroom");
            await wait;
        }

        var next = limiter.WaitAsync("p", null, CancellationToken.None);
        next.IsCompleted.Should().BeFalse("the 49th would leave less than 2 requests of headroom");
        clock.Advance(TimeSpan.FromSeconds(0.5));
        await next.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        new Bitrix24RestOptions().BurstHeadroom.Should().Be(2);
    }

    private static DateTimeOffset Take(LeakyBucket bucket, ManualClock clock)
    {
        while (!bucket.TryTake(out var wait))
        {
            clock.Advance(wait);
        }

        return clock.GetUtcNow();
    }

    [Fact]
    public async Task Calls_over_real_http_never_reach_the_portal_faster_than_the_bucket_allows()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/app.info", _ => FakeReply.Ok(true));
        using var h = new RestHarness(fake, o => { o.RequestsPerSecond = 20; o.Burst = 4; });
        // Warm the HTTP stack (JIT, first connections) through another portal, whose bucket is its own,
        // so the measured burst is not skewed by one-time start-up latency.
        h.Store.Put(new OAuth.PortalCredentials("warm-up", fake.RestEndpoint, "access-w", "refresh-w"));
        fake.On("/rest/warm.up", _ => FakeReply.Ok(true));
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => h.Client.CallAsync("warm-up", "warm.up")));

        var results = await Task.WhenAll(Enumerable.Range(0, 30).Select(_ => h.Client.CallAsync(RestHarness.MemberId, "app.info")));

        results.Should().OnlyContain(r => r.IsSuccess);
        var arrivals = fake.To("/rest/app.info").Select(r => r.At).Order().ToList();
        arrivals.Should().HaveCount(30);
        // Counted at the server: in any window, at most burst + rate × window. +1 because arrival is not
        // sending: the first requests of a burst also open connections and may arrive a little late.
        NeverOverTheBucket(arrivals, 20, 4 + 1);
        (arrivals[^1] - arrivals[0]).Should().BeGreaterThanOrEqualTo(TimeSpan.FromSeconds((30 - 4) / 20.0 - 0.1));
    }

    private static void NeverOverTheBucket(List<TimeSpan> sorted, double rate, int burst)
    {
        for (var i = 0; i < sorted.Count; i++)
        {
            for (var j = i; j < sorted.Count; j++)
            {
                var window = (sorted[j] - sorted[i]).TotalSeconds;
                (j - i + 1).Should().BeLessThanOrEqualTo((int)Math.Floor(burst + (rate * window) + 1e-9),
                    $"requests {i}..{j} fall within {window:0.000} s");
            }
        }
    }
}
