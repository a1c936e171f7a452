using System.Net;
using System.Net.Sockets;

namespace Switchboard.Tests.Cli;

/// <summary>The <c>asterisk-emulator</c> command refuses bad values with a one-line message and an exit code.</summary>
public sealed class AsteriskEmulatorCliTests
{
    [Fact]
    public async Task A_speed_of_zero_is_refused_with_exit_code_2()
    {
        var run = await CliRun.RunAsync("asterisk-emulator", "--port", "0", "--speed", "0");

        run.ExitCode.Should().Be(2, run.ToString());
        run.Error.Trim().Split('\n').Should().ContainSingle().Which.Should().Contain("--speed");
    }

    [Fact]
    public async Task A_port_in_use_is_refused_with_exit_code_1_and_no_stack_trace()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var run = await CliRun.RunAsync("asterisk-emulator", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));

        run.ExitCode.Should().Be(1, run.ToString());
        run.Error.Should().StartWith($"Cannot listen on 127.0.0.1:{port}").And.NotContain("   at ");
    }
}
