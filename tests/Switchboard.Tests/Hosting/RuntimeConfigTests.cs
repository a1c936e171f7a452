using System.Text.Json;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Hosting;

/// <summary>
/// The runtime settings Switchboard ships in <c>switchboard.runtimeconfig.json</c>, each measured in
/// docs/BENCHMARKS.md and listed in the README ("The .NET runtime's settings"): a build that lost one
/// would still pass every other test and only be slower under load.
/// </summary>
public sealed class RuntimeConfigTests
{
    [Theory]
    [InlineData("System.GC.Server", "false")]
    [InlineData("System.Threading.ThreadPool.HillClimbing.Disable", "true")]
    [InlineData("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit", "0")]
    public void The_server_ships_with_the_measured_runtime_setting(string name, string value)
    {
        var path = Path.ChangeExtension(ServerProcess.ServerDll, ".runtimeconfig.json");
        using var config = JsonDocument.Parse(File.ReadAllText(path));
        var properties = config.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");

        properties.TryGetProperty(name, out var setting).Should().BeTrue($"{path} should set {name}");
        setting.GetRawText().Should().Be(value);
    }
}
