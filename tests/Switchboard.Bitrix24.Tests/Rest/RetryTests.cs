using System.Text.Json.Nodes;
using Switchboard.Bitrix24.Rest;

namespace Switchboard.Bitrix24.Tests.Rest;

public sealed class RetryTests
{
    public static TheoryData<string> Faults => ["503 QUERY_LIMIT_EXCEEDED", "500", "502 html", "timeout", "connection reset"];

    private static FakeReply Fault(string fault) => fault switch
    {
        "503 QUERY_LIMIT_EXCEEDED" => FakeReply.Error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"),
        "500" => FakeReply.Error(500, "INTERNAL_SERVER_ERROR", "Internal server error"),
        "502 html" => new FakeReply(502, "<html>Bad gateway</html>"),
        "timeout" => FakeReply.Stall(),
        "connection reset" => FakeReply.Reset(),
        _ => throw new ArgumentOutOfRangeException(nameof(fault)),
    };

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task A_transient_fault_is_retried_with_back_off_and_the_call_succeeds_when_the_portal_recovers(string fault)
    {
        await using var fake = await FakeBitrix24.StartAsync();
        var n = 0;
        fake.On("/rest/telephony.externalCall.register", _ => Interlocked.Increment(ref n) <= 2 ? Fault(fault) : FakeReply.Ok(new JsonObject { ["CALL_ID"] = "externalCall.1" }));
        using var h = new RestHarness(fake, o =>
        {
            o.AttemptTimeout = TimeSpan.FromMilliseconds(400);
            o.BaseDelay = TimeSpan.FromMilliseconds(40);
            o.MaxDelay = TimeSpan.FromMilliseconds(200);
        });

        var r = await h.Client.CallAsync(RestHarness.MemberId, "telephony.externalCall.register", new JsonObject { ["EXTERNAL_CALL_ID"] = "pbx-1" });

        r.IsSuccess.Should().BeTrue();
        // A reset can also kill the pooled connection the next attempt picks up: that attempt fails
        // before reaching the portal, so count what the portal saw.
        r.Attempts.Should().BeGreaterThanOrEqualTo(3);
        var times = fake.To("/rest/telephony.externalCall.register").Select(x => x.At).ToList();
        times.Should().HaveCount(3);
        // Equal jitter: the n-th wait is at least half of base × 2^(n-1).
        (times[1] - times[0]).Should().BeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(18));
        (times[2] - times[1]).Should().BeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(38));
        fake.To("/rest/telephony.externalCall.register").Should().OnlyContain(x => x.Json!["EXTERNAL_CALL_ID"]!.GetValue<string>() == "pbx-1");
    }

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task A_fault_that_persists_gives_a_typed_failure_after_the_configured_attempts(string fault)
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/app.info", _ => Fault(fault));
        using var h = new RestHarness(fake, o => { o.MaxAttempts = 3; o.AttemptTimeout = TimeSpan.FromMilliseconds(300); });

        var r = await h.Client.CallAsync(RestHarness.MemberId, "app.info");

        r.IsSuccess.Should().BeFalse();
        r.Attempts.Should().Be(3);
        fake.To("/rest/app.info").Should().HaveCountLessThanOrEqualTo(3).And.HaveCountGreaterThanOrEqualTo(fault == "connection reset" ? 2 : 3);
        r.Error!.IsTransient.Should().BeTrue();
        r.Error.Kind.Should().Be(fault switch
        {
            "503 QUERY_LIMIT_EXCEEDED" => RestErrorKind.QueryLimitExceeded,
            "timeout" => RestErrorKind.Timeout,
            "connection reset" => RestErrorKind.ConnectionFailed,
            _ => RestErrorKind.ServerError,
        });
        h.Logs.All.Should().Contain("Retrying app.info");
    }

    [Fact]
    public async Task Operation_time_limit_pauses_the_method_until_operating_reset_at_then_succeeds()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        // Whole seconds on the wire, and at least a second ahead when the 429 arrives: with "+ 1" a run
        // near the end of a second (a loaded CI machine) saw the reset already past, and the client then
        // rightly fell back to the documented pause, beyond this test's MaxOperatingPause.
        var resetAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 2;
        var n = 0;
        fake.On("/rest/voximplant.statistic.get", _ => Interlocked.Increment(ref n) switch
        {
            1 => FakeReply.Ok(new JsonArray(), $"\"time\":{{\"operating\":479.5,\"operating_reset_at\":{resetAt}}}"),
            2 => FakeReply.Error(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit."),
            _ => FakeReply.Ok(new JsonArray()),
        });
        using var h = new RestHarness(fake, o => o.MaxOperatingPause = TimeSpan.FromSeconds(5));

        (await h.Client.CallAsync(RestHarness.MemberId, "voximplant.statistic.get")).IsSuccess.Should().BeTrue();
        var r = await h.Client.CallAsync(RestHarness.MemberId, "voximplant.statistic.get");

        r.IsSuccess.Should().BeTrue();
        r.Attempts.Should().Be(2);
        DateTimeOffset.UtcNow.Should().BeOnOrAfter(DateTimeOffset.FromUnixTimeSeconds(resetAt), "the retry waits for the reset");
        h.Logs.All.Should().Contain("OPERATION_TIME_LIMIT");
    }

    [Fact]
    public async Task Operation_time_limit_far_in_the_future_is_returned_with_retry_at_and_blocks_only_that_method()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/voximplant.statistic.get", _ => FakeReply.Error(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit."));
        fake.On("/rest/app.info", _ => FakeReply.Ok(true));
        using var h = new RestHarness(fake);

        var blocked = await h.Client.CallAsync(RestHarness.MemberId, "voximplant.statistic.get");
        var again = await h.Client.CallAsync(RestHarness.MemberId, "voximplant.statistic.get");
        var other = await h.Client.CallAsync(RestHarness.MemberId, "app.info");

        blocked.Error!.Kind.Should().Be(RestErrorKind.OperationTimeLimit);
        blocked.Error.RetryAt.Should().BeCloseTo(DateTimeOffset.UtcNow.AddMinutes(10), TimeSpan.FromSeconds(30));
        again.Error!.Kind.Should().Be(RestErrorKind.OperationTimeLimit);
        again.Attempts.Should().Be(0, "a paused method is not called until its reset");
        other.IsSuccess.Should().BeTrue("other methods are unaffected (EN-docs limits.md)");
        fake.To("/rest/voximplant.statistic.get").Should().HaveCount(1);
    }

    [Fact]
    public async Task A_permanent_error_is_not_retried()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/telephony.externalCall.register", _ => FakeReply.Error(400, "ERROR_CORE", "Unsupported phone number format"));
        using var h = new RestHarness(fake);

        var r = await h.Client.CallAsync(RestHarness.MemberId, "telephony.externalCall.register");

        r.Error!.Kind.Should().Be(RestErrorKind.ErrorCore);
        r.Error.IsTransient.Should().BeFalse();
        fake.Requests.Should().HaveCount(1);
    }
}
