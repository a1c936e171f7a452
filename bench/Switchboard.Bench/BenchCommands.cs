using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using System.Globalization;

namespace Switchboard.Bench;

/// <summary>The command line: <c>load</c>, <c>ceiling</c> and <c>compare</c>.</summary>
internal static class BenchCommands
{
    private static readonly TimeSpan CeilingReadyTimeout = TimeSpan.FromSeconds(30);

    public static RootCommand Root()
    {
        var root = new RootCommand("Load generator for Switchboard's POST /bitrix24/events. Loopback addresses only.");
        root.Subcommands.Add(Load());
        root.Subcommands.Add(Ceiling());
        root.Subcommands.Add(Compare());
        root.Subcommands.Add(RestBench.Command());
        root.Subcommands.Add(FoldBench.Command());
        root.Subcommands.Add(JournalBench.Command());
        root.Subcommands.Add(ClickBench.Command());
        root.Subcommands.Add(FuzzBench.Command());
        return root;
    }

    private static Command Load()
    {
        var url = UrlOption("--url", "The server to load (loopback only); /bitrix24/events is appended when the URL has no path.");
        var load = new LoadOptions();
        var command = new Command("load", "Closed-loop load against a running server: N connections, each posting the next event as soon as the last is answered.");
        command.Options.Add(url);
        load.AddTo(command);
        command.SetAction((parse, ct) => Guard(async () =>
        {
            var settings = load.Settings(Parse(parse.GetRequiredValue(url)), parse);
            var serverCpu = ServerCpu(parse.GetValue(load.ServerPid));
            var result = await LoadRunner.RunAsync(settings, serverCpu, Console.Error, ct).ConfigureAwait(false);
            if (parse.GetValue(load.Json))
            {
                Console.WriteLine(Report.ToJson(result));
            }
            else
            {
                Report.WriteLoad(Console.Out, result);
            }

            return result.Non200Total + result.ErrorTotal == 0 ? 0 : 1;
        }));
        return command;
    }

    private static Command Ceiling()
    {
        var urls = new Option<string>("--urls")
        {
            Description = "Where to listen, ';'-separated (loopback only). Port 0 picks a free port.",
            DefaultValueFactory = _ => "http://127.0.0.1:5001",
        };
        urls.Validators.Add(result =>
        {
            foreach (var u in Split(result.GetValueOrDefault<string>()))
            {
                if (!LoopbackUrl.TryParse(u, out _, out var error))
                {
                    result.AddError(error);
                }
            }
        });
        var stopOnStdinEof = new Option<bool>("--stop-on-stdin-eof") { Hidden = true, Description = "Stop when stdin closes (used by compare)." };
        var command = new Command("ceiling", "A bare Kestrel server whose POST /bitrix24/events only reads the form and answers 200: the ceiling to compare against.");
        command.Options.Add(urls);
        command.Options.Add(stopOnStdinEof);
        command.SetAction((parse, ct) => Guard(() =>
            CeilingServer.RunAsync([.. Split(parse.GetRequiredValue(urls)).Select(Parse)], parse.GetValue(stopOnStdinEof), ct)));
        return command;
    }

    private static Command Compare()
    {
        var serverUrl = UrlOption("--server-url", "The running Switchboard server (loopback only).");
        var rounds = new Option<int>("--rounds")
        {
            Description = "Measure ceiling and Switchboard this many times, alternating which goes first, and report each round's ratio and the median. A shared VM's speed can move by tens of percent within minutes: one round can mislead.",
            DefaultValueFactory = _ => 1,
        };
        rounds.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 1 or > 50)
            {
                r.AddError("--rounds must be between 1 and 50.");
            }
        });
        var load = new LoadOptions();
        var command = new Command("compare", "Runs the same load against the ceiling server (started as a child process) and against Switchboard, side by side, in one or more rounds.");
        command.Options.Add(serverUrl);
        command.Options.Add(rounds);
        load.AddTo(command);
        command.SetAction((parse, ct) => Guard(async () =>
        {
            var switchboardUrl = Parse(parse.GetRequiredValue(serverUrl));
            var count = parse.GetValue(rounds);
            var switchboardCpu = ServerCpu(parse.GetValue(load.ServerPid));
            var results = new List<(LoadResult Ceiling, LoadResult Switchboard)>(count);

            var child = await CeilingProcess.StartAsync(CeilingReadyTimeout, ct).ConfigureAwait(false);
            await using (child.ConfigureAwait(false))
            {
                await Console.Error.WriteLineAsync($"ceiling server started as process {child.Id} on {child.Url}").ConfigureAwait(false);
                Task<LoadResult> Ceiling() => LoadRunner.RunAsync(load.Settings(child.Url, parse), child.CpuTime, Console.Error, ct);
                Task<LoadResult> Switchboard() => LoadRunner.RunAsync(load.Settings(switchboardUrl, parse), switchboardCpu, Console.Error, ct);

                for (var round = 0; round < count; round++)
                {
                    if (count > 1)
                    {
                        await Console.Error.WriteLineAsync($"round {round + 1} of {count}: {(round % 2 == 0 ? "ceiling first" : "Switchboard first")}").ConfigureAwait(false);
                    }

                    // Alternating the order cancels a machine that speeds up or slows down steadily.
                    LoadResult ceiling, switchboard;
                    if (round % 2 == 0)
                    {
                        ceiling = await Ceiling().ConfigureAwait(false);
                        ct.ThrowIfCancellationRequested();
                        switchboard = await Switchboard().ConfigureAwait(false);
                    }
                    else
                    {
                        switchboard = await Switchboard().ConfigureAwait(false);
                        ct.ThrowIfCancellationRequested();
                        ceiling = await Ceiling().ConfigureAwait(false);
                    }

                    results.Add((ceiling, switchboard));
                }
            }

            var ratios = results.Select(r => Report.Ratio(r.Ceiling, r.Switchboard)).ToList();
            if (parse.GetValue(load.Json))
            {
                Console.WriteLine(count == 1
                    ? Report.ToJson(new { ceiling = results[0].Ceiling, switchboard = results[0].Switchboard, throughputRatio = ratios[0] })
                    : Report.ToJson(new
                    {
                        rounds = results.Select((r, i) => new { ceiling = r.Ceiling, switchboard = r.Switchboard, throughputRatio = ratios[i] }),
                        medianThroughputRatio = Report.Median(ratios),
                    }));
            }
            else
            {
                for (var i = 0; i < results.Count; i++)
                {
                    if (count > 1)
                    {
                        Console.WriteLine($"round {i + 1} of {count}");
                    }

                    Report.WriteCompare(Console.Out, results[i].Ceiling, results[i].Switchboard);
                    Console.WriteLine();
                }

                if (count > 1)
                {
                    Report.WriteRounds(Console.Out, ratios);
                }
            }

            return results.Sum(r => r.Ceiling.Non200Total + r.Ceiling.ErrorTotal + r.Switchboard.Non200Total + r.Switchboard.ErrorTotal) == 0 ? 0 : 1;
        }));
        return command;
    }

    /// <summary>The options <c>load</c> and <c>compare</c> share.</summary>
    private sealed class LoadOptions
    {
        public Option<int> Connections { get; } = new("--connections", "-c")
        {
            Description = "Concurrent workers, each on its own connection.",
            DefaultValueFactory = _ => 64,
        };

        public Option<TimeSpan> Duration { get; } = DurationOption("--duration", "-d", "How long to measure (e.g. 20s, 1m, 500ms).", TimeSpan.FromSeconds(20));

        public Option<TimeSpan> Warmup { get; } = DurationOption("--warmup", "-w", "Load before measuring; not counted.", TimeSpan.FromSeconds(3));

        public Option<TimeSpan> Timeout { get; } = DurationOption("--timeout", null, "Per-request timeout; a request that takes longer counts as an error.", TimeSpan.FromSeconds(10));

        public Option<int?> ServerPid { get; } = new("--server-pid")
        {
            Description = "Process id of the server under test, to report its CPU use (optional).",
        };

        public Option<bool> Json { get; } = new("--json") { Description = "Print the result as JSON." };

        public void AddTo(Command command)
        {
            Connections.Validators.Add(r =>
            {
                if (r.GetValueOrDefault<int>() is < 1 or > 10_000)
                {
                    r.AddError("--connections must be between 1 and 10000.");
                }
            });
            command.Options.Add(Connections);
            command.Options.Add(Duration);
            command.Options.Add(Warmup);
            command.Options.Add(Timeout);
            command.Options.Add(ServerPid);
            command.Options.Add(Json);
        }

        public LoadSettings Settings(Uri target, ParseResult parse) => new(
            target,
            parse.GetValue(Connections),
            parse.GetValue(Duration),
            parse.GetValue(Warmup),
            parse.GetValue(Timeout));
    }

    private static Option<string> UrlOption(string name, string description)
    {
        var option = new Option<string>(name)
        {
            Description = description,
            DefaultValueFactory = _ => "http://127.0.0.1:5000",
        };
        option.Validators.Add(result =>
        {
            if (!LoopbackUrl.TryParse(result.GetValueOrDefault<string>(), out _, out var error))
            {
                result.AddError(error);
            }
        });
        return option;
    }

    private static Option<TimeSpan> DurationOption(string name, string? alias, string description, TimeSpan fallback)
    {
        var option = alias is null ? new Option<TimeSpan>(name) : new Option<TimeSpan>(name, alias);
        option.Description = description;
        option.DefaultValueFactory = _ => fallback;
        option.CustomParser = result =>
        {
            var text = result.Tokens.Count == 0 ? null : result.Tokens[0].Value;
            if (text is not null && TryParseDuration(text, out var value) && value >= TimeSpan.Zero)
            {
                return value;
            }

            result.AddError($"{name}: '{text}' is not a duration such as 20s, 1m, 500ms or 00:00:20.");
            return fallback;
        };
        return option;
    }

    internal static bool TryParseDuration(string text, out TimeSpan value)
    {
        text = text.Trim();
        (string Suffix, double Seconds)[] units = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)];
        foreach (var (suffix, seconds) in units)
        {
            if (text.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(text[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var n))
            {
                value = TimeSpan.FromSeconds(n * seconds);
                return true;
            }
        }

        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var plain))
        {
            value = TimeSpan.FromSeconds(plain);
            return true;
        }

        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out value);
    }

    private static string[] Split(string? urls) =>
        (urls ?? string.Empty).Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Already validated by the option, so a failure here is a bug.</summary>
    private static Uri Parse(string url) =>
        LoopbackUrl.TryParse(url, out var uri, out var error) ? uri : throw new BenchAbortedException(error);

    private static Func<TimeSpan>? ServerCpu(int? pid)
    {
        if (pid is not { } id)
        {
            return null;
        }

        Process process;
        try
        {
            process = Process.GetProcessById(id);
        }
        catch (ArgumentException)
        {
            throw new BenchAbortedException($"--server-pid {id}: no such process.");
        }

        return () =>
        {
            process.Refresh();
            return process.TotalProcessorTime;
        };
    }

    /// <summary>Turns a <see cref="BenchAbortedException"/> into a message and exit code 2.</summary>
    internal static async Task<int> Guard(Func<Task<int>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (BenchAbortedException ex)
        {
            await Console.Error.WriteLineAsync($"switchboard-bench: {ex.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync("switchboard-bench: cancelled.").ConfigureAwait(false);
            return 130;
        }
    }
}
