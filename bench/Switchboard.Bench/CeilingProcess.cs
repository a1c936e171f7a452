using System.Diagnostics;

namespace Switchboard.Bench;

/// <summary>
/// The ceiling server in a child process (this executable with <c>ceiling</c>), so it runs with its
/// own runtime, GC and thread pool exactly as the real server does, and not inside the generator.
/// </summary>
internal sealed class CeilingProcess : IAsyncDisposable
{
    private readonly Process process;

    private CeilingProcess(Process process, Uri url)
    {
        this.process = process;
        Url = url;
    }

    public Uri Url { get; }

    public int Id => process.Id;

    /// <summary>Total CPU time the child has used so far.</summary>
    public TimeSpan CpuTime()
    {
        process.Refresh();
        return process.TotalProcessorTime;
    }

    public static async Task<CeilingProcess> StartAsync(TimeSpan readyTimeout, CancellationToken ct)
    {
        var start = new ProcessStartInfo
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = false,
        };

        // Under `dotnet switchboard-bench.dll` the process is the dotnet host; under the apphost
        // (`dotnet run`, or the published executable) it is this program itself.
        var self = Environment.ProcessPath ?? throw new BenchAbortedException("Cannot tell which executable is running, so cannot start the ceiling server.");
        start.FileName = self;
        if (string.Equals(Path.GetFileNameWithoutExtension(self), "dotnet", StringComparison.OrdinalIgnoreCase))
        {
            start.ArgumentList.Add(typeof(CeilingProcess).Assembly.Location);
        }

        // Port 0: the kernel picks a free loopback port and the child reports it.
        foreach (var arg in (string[])["ceiling", "--urls", "http://127.0.0.1:0", "--stop-on-stdin-eof"])
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new BenchAbortedException("The ceiling server process did not start.");
        var ceiling = (CeilingProcess?)null;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(readyTimeout);
            while (ceiling is null)
            {
                string? line;
                try
                {
                    line = await process.StandardOutput.ReadLineAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new BenchAbortedException($"The ceiling server did not report ready within {readyTimeout.TotalSeconds:0} s.");
                }

                if (line is null)
                {
                    throw new BenchAbortedException("The ceiling server exited before it was ready.");
                }

                if (line.StartsWith(CeilingServer.ReadyMarker + " ", StringComparison.Ordinal))
                {
                    var address = line[(CeilingServer.ReadyMarker.Length + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
                    if (!LoopbackUrl.TryParse(address, out var url, out var error))
                    {
                        throw new BenchAbortedException($"The ceiling server reported an unusable address: {error}");
                    }

                    ceiling = new CeilingProcess(process, url);
                }
            }

            // Keep the pipe drained so the child never blocks on a full stdout.
            _ = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null, CancellationToken.None);
            return ceiling;
        }
        catch
        {
            Stop(process);
            process.Dispose();
            throw;
        }
    }

    /// <summary>Closes the child's stdin (its signal to stop), waits a little, then kills it.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            process.StandardInput.Close();
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Stop(process);
        }
        finally
        {
            process.Dispose();
        }
    }

    private static void Stop(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
    }
}
