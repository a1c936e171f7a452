using System.Net;
using System.Text;
using System.Text.Json;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Hosting;

/// <summary>What the shipped <c>appsettings.json</c> does, on the real <c>switchboard serve</c> process.</summary>
public sealed class ShippedSettingsTests
{
    [Fact]
    public async Task The_shipped_settings_start_no_tracing_activity_per_request()
    {
        // ASP.NET Core starts an Activity for every request whenever its Microsoft.AspNetCore.Hosting.
        // Diagnostics logger is enabled at any level (4 % of what the receiving path allocated,
        // docs/BENCHMARKS.md); appsettings.json turns that category off. Seen from outside: a problem's
        // traceId is then Kestrel's request id ("0HN…:00000001"), not the Activity's W3C id ("00-…-…-00").
        using var data = new TempDirectory();
        await using var server = await ServerProcess.StartAsync("--data", data.Path);
        using var client = new HttpClient { BaseAddress = server.BaseAddress };
        using var content = new StringContent("event=ONEXTERNALCALLSTART", Encoding.UTF8, "text/plain");

        using var response = await client.PostAsync(new Uri("/bitrix24/events", UriKind.Relative), content);

        response.StatusCode.Should().Be(HttpStatusCode.UnsupportedMediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var traceId = problem.RootElement.GetProperty("traceId").GetString();
        traceId.Should().NotStartWith("00-", server.Output).And.Contain(":");
    }
}
