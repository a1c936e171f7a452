using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Switchboard.Tests.Infrastructure;

/// <summary>
/// <c>switchboard serve</c> as a child process, the way an operator runs it: the built
/// <c>switchboard.dll</c> of the same configuration as the tests, on a free loopback port. Its
/// stdout and stderr are kept for the failure message. <see cref="Kill"/> is SIGKILL: no shutdown
/// hook, no draining, no flush.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private ServerProcess(Process process, Uri baseAddress)
    {
        _process = process;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>The server's process id (instances name themselves machine:pid in leases and claims).</summary>
    public int ProcessId => _process.Id;

    public int ExitCode => _process.ExitCode;

    /// <summary>What the server printed so far, stdout and stderr interleaved as they arrived.</summary>
    public string Output => string.Join(Environment.NewLine, _output);

    /// <summary>The server's assembly: src/Switchboard/bin/&lt;Configuration&gt;/net10.0/switchboard.dll.</summary>
    public static string ServerDll
    {
        get
        {
            var baseDirectory = AppContext.BaseDirectory;
            var configuration = baseDirectory.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                ? "Release"
                : "Debug";
            var root = new DirectoryInfo(baseDirectory);
            while (root is not null && !File.Exists(Path.Combine(root.FullName, "Switchboard.sln")))
            {
                root = root.Parent;
            }

            if (root is null)
            {
                throw new InvalidOperationException($"No Switchboard.sln above {baseDirectory}: cannot find the server to start.");
            }

            var dll = Path.Combine(root.FullName, "src", "Switchboard", "bin", configuration, "net10.0", "switchboard.dll");
            return File.Exists(dll)
                ? dll
                : throw new InvalidOperationException($"{dll} does not exist: build the solution in {configuration} first (./test.sh does).");
        }
    }

    /// <summary>Starts <c>switchboard serve --urls http://127.0.0.1:&lt;free port&gt;</c> plus <paramref name="storeArguments"/> and waits until /readyz is green.</summary>
    public static Task<ServerProcess> StartAsync(params string[] storeArguments) => StartOnAsync(FreePort(), storeArguments);

    /// <summary>As <see cref="StartAsync"/>, on a port chosen beforehand (for a Switchboard:PublicUrl that names it, or a restart on the same one).</summary>
    public static async Task<ServerProcess> StartOnAsync(int port, params string[] storeArguments)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        info.ArgumentList.Add(ServerDll);
        info.ArgumentList.Add("serve");
        info.ArgumentList.Add("--urls");
        info.ArgumentList.Add($"http://127.0.0.1:{port}");
        foreach (var a in TestOAuth.Arguments().Concat(storeArguments))
        {
            info.ArgumentList.Add(a);
        }

        // Only the arguments choose the store: nothing leaks in from the test process's environment.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("Switchboard__", StringComparison.OrdinalIgnoreCase) || k.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            info.Environment.Remove(key);
        }

        var process = new Process { StartInfo = info };
        var server = new ServerProcess(process, new Uri($"http://127.0.0.1:{port}"));
        process.OutputDataReceived += (_, e) => server.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => server.Keep(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await server.WaitUntilReadyAsync();
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    /// <summary>SIGKILL, the whole process tree, and waits until it is gone.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        if (!_process.WaitForExit(TimeSpan.FromSeconds(10)))
        {
            throw new InvalidOperationException("The killed server is still running after 10 s.");
        }
    }

    private void Keep(string? line)
    {
        if (line is not null)
        {
            _output.Enqueue(line);
        }
    }

    private async Task WaitUntilReadyAsync()
    {
        using var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        var last = "no answer yet";
        using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        do
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The server exited with {_process.ExitCode} before it was ready. Its output:{Environment.NewLine}{Output}");
            }

            try
            {
                using var response = await client.GetAsync("/readyz");
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }

                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                last = ex.Message;
            }
        }
        while (deadline.Elapsed < ReadyTimeout && await poll.WaitForNextTickAsync());

        throw new TimeoutException($"The server at {BaseAddress} was not ready within {ReadyTimeout.TotalSeconds:0} s (last: {last}). Its output:{Environment.NewLine}{Output}");
    }

    /// <summary>A loopback port nobody listens on right now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }

        _process.Dispose();
    }
}
