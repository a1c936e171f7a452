using System.Diagnostics;
using System.Net;
using Switchboard.Emulator;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Pbx;

/// <summary>
/// <c>GET /pbx/route</c> against the portal emulator, whose CRM has +14155551234 (contact 797) assigned
/// to user 2, extension 101.
/// </summary>
public sealed class RouteEndpointTests
{
    private const string Secret = "route-secret-for-tests";

    [Fact]
    public async Task The_responsible_users_extension_is_answered_as_plain_digits_for_any_spelling_and_the_cache_saves_the_second_rest_call()
    {
        await using var lab = await StartAsync();

        var first = await lab.Server.Client.GetAsync($"/pbx/route?number={Uri.EscapeDataString("+1 415 555 1234")}&secret={Secret}");
        first.StatusCode.Should().Be(HttpStatusCode.OK);
        first.Content.Headers.ContentType!.MediaType.Should().Be("text/plain");
        (await first.Content.ReadAsStringAsync()).Should().Be("101");

        // The same number as the trunk sends it nationally (default country US), asked with the header.
        using var second = new HttpRequestMessage(HttpMethod.Get, $"/pbx/route?number={Uri.EscapeDataString("(415) 555-1234")}");
        second.Headers.Add("X-Switchboard-Secret", Secret);
        var again = await lab.Server.Client.SendAsync(second);
        (await again.Content.ReadAsStringAsync()).Should().Be("101");

        Searches(lab).Should().Be(1, "the second call from the number is answered from the cache");
    }

    [Fact]
    public async Task An_unknown_number_gets_no_preference_and_that_answer_is_cached_too()
    {
        await using var lab = await StartAsync();

        for (var i = 0; i < 3; i++)
        {
            var r = await lab.Server.Client.GetAsync($"/pbx/route?number=%2B442079460018&secret={Secret}");
            r.StatusCode.Should().Be(HttpStatusCode.OK);
            (await r.Content.ReadAsStringAsync()).Should().BeEmpty();
        }

        Searches(lab).Should().Be(1);
    }

    [Fact]
    public async Task A_wrong_or_missing_secret_is_refused_401_and_the_secret_is_never_logged()
    {
        await using var lab = await StartAsync();

        var wrong = await lab.Server.Client.GetAsync("/pbx/route?number=%2B14155551234&secret=guess");
        wrong.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        wrong.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json");
        var missing = await lab.Server.Client.GetAsync("/pbx/route?number=%2B14155551234");
        missing.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        using var badHeader = new HttpRequestMessage(HttpMethod.Get, $"/pbx/route?number=%2B14155551234");
        badHeader.Headers.Add("X-Switchboard-Secret", Secret + "x");
        (await lab.Server.Client.SendAsync(badHeader)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        Searches(lab).Should().Be(0);

        (await (await lab.Server.Client.GetAsync($"/pbx/route?number=%2B14155551234&secret={Secret}")).Content.ReadAsStringAsync()).Should().Be("101");
        lab.Server.Logs.Lines.Should().NotContain(l => l.Contains(Secret, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_a_secret_setting_the_endpoint_answers_404_as_if_it_did_not_exist()
    {
        await using var lab = await StartAsync(secret: null);

        var r = await lab.Server.Client.GetAsync("/pbx/route?number=%2B14155551234&secret=anything");
        r.StatusCode.Should().Be(HttpStatusCode.NotFound);
        var absent = await lab.Server.Client.GetAsync("/pbx/no-such-endpoint");
        absent.StatusCode.Should().Be(HttpStatusCode.NotFound);
        WithoutTraceId(await r.Content.ReadAsStringAsync()).Should().Be(WithoutTraceId(await absent.Content.ReadAsStringAsync()));
        Searches(lab).Should().Be(0);
    }

    [Theory]
    [InlineData("/pbx/route?secret=" + Secret, "number")]
    [InlineData("/pbx/route?number=call%20me&secret=" + Secret, "not allowed")]
    [InlineData("/pbx/route?number=%2B7916&secret=" + Secret, "too short")]
    [InlineData("/pbx/route?number=%2B14155551234&member=nope&secret=" + Secret, "nope")]
    [InlineData("/pbx/route?number=%2B14155551234&pbx=nope&secret=" + Secret, "nope")]
    public async Task Bad_input_is_a_400_problem_that_says_what_is_wrong(string url, string detail)
    {
        await using var lab = await StartAsync();

        var r = await lab.Server.Client.GetAsync(url);
        r.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        r.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json");
        (await r.Content.ReadAsStringAsync()).Should().Contain(detail);
        Searches(lab).Should().Be(0);
    }

    [Fact]
    public async Task The_portal_is_named_with_member_and_an_internal_caller_gets_no_preference_without_a_search()
    {
        await using var lab = await StartAsync();

        (await (await lab.Server.Client.GetAsync($"/pbx/route?number=%2B14155551234&member={lab.MemberId}&secret={Secret}")).Content.ReadAsStringAsync()).Should().Be("101");
        var internalCaller = await lab.Server.Client.GetAsync($"/pbx/route?number=102&secret={Secret}");
        internalCaller.StatusCode.Should().Be(HttpStatusCode.OK);
        (await internalCaller.Content.ReadAsStringAsync()).Should().BeEmpty();
        Searches(lab).Should().Be(1);
    }

    [Fact]
    public async Task A_slow_portal_gets_no_preference_within_the_bound_and_its_late_answer_serves_the_next_call()
    {
        await using var lab = await StartAsync(timeout: "00:00:00.300");
        lab.Emulator.Faults.Delay = TimeSpan.FromSeconds(3);
        lab.Emulator.Faults.FailNext(1, FaultKind.Delay, "telephony.externalCall.searchCrmEntities");

        var clock = Stopwatch.StartNew();
        var r = await lab.Server.Client.GetAsync($"/pbx/route?number=%2B14155551234&secret={Secret}");
        clock.Stop();
        r.StatusCode.Should().Be(HttpStatusCode.OK);
        (await r.Content.ReadAsStringAsync()).Should().BeEmpty("the portal had not answered yet");
        clock.Elapsed.Should().BeLessThan(lab.Emulator.Faults.Delay, "the call is not held for the portal");
        lab.Server.Logs.Lines.Should().Contain(l => l.Contains("no preference", StringComparison.Ordinal) && l.Contains("300 ms", StringComparison.Ordinal));

        // The lookup went on without the caller; once the portal answers, later calls get the extension
        // from that one request.
        await PortalLab.WaitUntilAsync(async () => await (await lab.Server.Client.GetAsync($"/pbx/route?number=%2B14155551234&secret={Secret}")).Content.ReadAsStringAsync() == "101",
            "the late answer is served");
        Searches(lab).Should().Be(1);
    }

    [Fact]
    public async Task A_failing_portal_gets_no_preference_and_is_asked_again_once_the_failure_is_old()
    {
        await using var lab = await StartAsync(settings: new() { ["Switchboard:Pbx:RouteCacheTime"] = "00:00:00" });
        lab.Emulator.Faults.Outage = true;

        var r = await lab.Server.Client.GetAsync($"/pbx/route?number=%2B14155551234&secret={Secret}");
        r.StatusCode.Should().Be(HttpStatusCode.OK);
        (await r.Content.ReadAsStringAsync()).Should().BeEmpty();

        lab.Emulator.Faults.Outage = false;
        await PortalLab.WaitUntilAsync(async () => await (await lab.Server.Client.GetAsync($"/pbx/route?number=%2B14155551234&secret={Secret}")).Content.ReadAsStringAsync() == "101",
            "the portal is asked again after its outage");
    }

    [Fact]
    public async Task Only_an_active_responsible_user_with_an_extension_is_answered_and_a_later_match_may_give_it()
    {
        var portal = new EmulatorOptions
        {
            Url = "http://127.0.0.1:0",
            Users =
            [
                new() { Id = 1, Name = "Anna", Email = "admin@example.test", IsAdmin = true, PhoneInner = "100" },
                new() { Id = 3, Name = "Clara", Email = "clara@example.test", PhoneInner = "102" },
                new() { Id = 4, Name = "Dmitri", Email = "dmitri@example.test" },
                new() { Id = 5, Name = "Eve", Email = "eve@example.test", PhoneInner = "105", Active = false },
            ],
            Crm =
            [
                new() { Id = 801, Phone = "+442079460018", AssignedById = 4 },
                new() { Id = 802, Phone = "+442079460019", AssignedById = 4 },
                new() { Id = 803, Phone = "+442079460019", AssignedById = 3 },
                new() { Id = 804, Phone = "+493012345678", AssignedById = 5 },
            ],
        };
        await using var lab = await StartAsync(emulator: portal);

        async Task<string> RouteAsync(string number) =>
            await (await lab.Server.Client.GetAsync($"/pbx/route?number={Uri.EscapeDataString(number)}&secret={Secret}")).Content.ReadAsStringAsync();

        (await RouteAsync("+442079460018")).Should().BeEmpty("the responsible user has no extension");
        (await RouteAsync("+442079460019")).Should().Be("102", "the second match's responsible user has one");
        (await RouteAsync("+493012345678")).Should().BeEmpty("the responsible user is not active");
        Searches(lab).Should().Be(3);
    }

    private static string WithoutTraceId(string body) => System.Text.RegularExpressions.Regex.Replace(body, "\"traceId\":\"[^\"]*\"", "");

    private static int Searches(PortalLab lab) =>
        lab.Emulator.State.RequestLog.Count(e => e.Method.Contains("searchCrmEntities", StringComparison.OrdinalIgnoreCase) && e.Status != 0);

    private static async Task<PortalLab> StartAsync(string? secret = Secret, string? timeout = null, Dictionary<string, string?>? settings = null, EmulatorOptions? emulator = null)
    {
        var all = settings ?? [];
        all["Switchboard:Pbx:RouteSecret"] = secret;
        all["Switchboard:Pbx:DefaultCountry"] = "US";
        if (timeout is not null)
        {
            all["Switchboard:Pbx:RouteTimeout"] = timeout;
        }

        var lab = await PortalLab.StartAsync(settings: all, emulatorOptions: emulator);
        // The users (and their extensions) are loaded by the install's setup.
        await PortalLab.WaitForSetupAsync(lab.Server, 1);
        return lab;
    }
}
