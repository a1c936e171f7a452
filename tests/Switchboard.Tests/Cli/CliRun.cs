using System.Text.Json;
using Switchboard.Cli;

namespace Switchboard.Tests.Cli;

/// <summary>One run of the <c>switchboard</c> command, in-process: its exit code and what it wrote.</summary>
public sealed record CliRun(int ExitCode, string Output, string Error)
{
    public static async Task<CliRun> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await SwitchboardCli.RunAsync(args, output, error, CancellationToken.None);
        return new CliRun(exit, output.ToString(), error.ToString());
    }

    /// <summary>The run succeeded; its stdout parsed as JSON.</summary>
    public JsonElement Json()
    {
        ExitCode.Should().Be(0, Error);
        using var document = JsonDocument.Parse(Output);
        return document.RootElement.Clone();
    }

    public override string ToString() => $"exit {ExitCode}{Environment.NewLine}stdout:{Environment.NewLine}{Output}{Environment.NewLine}stderr:{Environment.NewLine}{Error}";
}
