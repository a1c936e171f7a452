using System.Globalization;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;

namespace Switchboard.Bench;

/// <summary>What one load run does: where, how many connections, how long.</summary>
internal sealed record LoadSettings(Uri Target, int Connections, TimeSpan Duration, TimeSpan Warmup, TimeSpan RequestTimeout)
{
    /// <summary>The events endpoint: the target itself if it has a path, else <c>/bitrix24/events</c> on it.</summary>
    public Uri Endpoint => Target.AbsolutePath is "/" or "" ? new Uri(Target, "/bitrix24/events") : Target;
}

/// <summary>
/// Closed-loop load: N workers, each with its own HTTP/1.1 connection, each sending the next event
/// as soon as the previous one is answered. Throughput is what the server sustains at N requests in
/// flight; latency is measured per request from just before the send to the end of the response.
/// </summary>
internal static class LoadRunner
{
    private const int TemplatesPerWorker = 64;
    private static readonly MediaTypeHeaderValue FormContentType = new("application/x-www-form-urlencoded");

    /// <summary>Installs a fresh bench portal on the target, then runs warm-up and measurement.</summary>
    /// <remarks><paramref name="serverCpu"/> reads the server's total CPU time, when the bench knows its process.</remarks>
    public static async Task<LoadResult> RunAsync(LoadSettings settings, Func<TimeSpan>? serverCpu, TextWriter log, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(log);
        var endpoint = settings.Endpoint;
        var portal = new BenchPortal(TimeProvider.System);

        // All bodies are built and checked before the clock starts.
        var workers = new Worker[settings.Connections];
        var capacity = LatencyCapacity(settings);
        for (var i = 0; i < workers.Length; i++)
        {
            var templates = portal.Templates(TemplatesPerWorker, new Random(i));
            workers[i] = new Worker(i, templates, capacity, NewClient(settings.RequestTimeout));
        }

        foreach (var template in workers[0].Templates)
        {
            if (template.Check(ulong.MaxValue, portal) is { } problem)
            {
                throw new BenchAbortedException($"The generator built a bad body: {problem}");
            }
        }

        try
        {
            await InstallAsync(workers[0].Client, endpoint, portal, ct).ConfigureAwait(false);
            log.WriteLine($"{endpoint}: bench portal {portal.MemberId} installed; {settings.Connections} connections, " +
                          $"warm-up {settings.Warmup.TotalSeconds:0.#} s, measuring {settings.Duration.TotalSeconds:0.#} s …");

            var run = new RunClock(settings, serverCpu);
            var allocated = ServerAllocatedAsync(new Uri(endpoint, "/metrics"), run, ct);
            await Task.WhenAll(workers.Select(w => Task.Run(() => w.RunAsync(endpoint, run, ct), ct))).ConfigureAwait(false);
            run.MarkEnd();
            return LoadResult.From(settings, endpoint, run, workers, await allocated.ConfigureAwait(false));
        }
        finally
        {
            foreach (var w in workers)
            {
                w.Client.Dispose();
            }
        }
    }

    private static async Task InstallAsync(HttpClient client, Uri endpoint, BenchPortal portal, CancellationToken ct)
    {
        using var content = new ByteArrayContent(portal.InstallBody());
        content.Headers.ContentType = FormContentType;
        HttpResponseMessage response;
        try
        {
            response = await client.PostAsync(endpoint, content, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new BenchAbortedException($"{endpoint}: ONAPPINSTALL failed ({ex.Message}). Is the server running?");
        }

        using (response)
        {
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new BenchAbortedException($"{endpoint}: ONAPPINSTALL was answered {(int)response.StatusCode} {response.ReasonPhrase}, expected 200.");
            }
        }
    }

    /// <summary>
    /// The bytes the server allocated over the measured window, from <c>process_allocated_bytes_total</c>
    /// in its <c>/metrics</c> (Switchboard's), read when the warm-up ends and when the window does; null
    /// for a server without it (the ceiling). Unlike CPU time, allocation per event does not move with
    /// the machine's speed, so it shows a change in one run that throughput needs many pairs to show.
    /// </summary>
    private static async Task<long?> ServerAllocatedAsync(Uri metrics, RunClock run, CancellationToken ct)
    {
        using var client = NewClient(TimeSpan.FromSeconds(5));
        await Task.Delay(Until(run.WarmupEnd), ct).ConfigureAwait(false);
        var start = await ReadAllocatedAsync(client, metrics, ct).ConfigureAwait(false);
        if (start is null)
        {
            return null;
        }

        await Task.Delay(Until(run.End), ct).ConfigureAwait(false);
        return await ReadAllocatedAsync(client, metrics, ct).ConfigureAwait(false) - start;

        static TimeSpan Until(long timestamp) => TimeSpan.FromTicks(Math.Max(0, (long)((timestamp - Stopwatch.GetTimestamp()) * (double)TimeSpan.TicksPerSecond / Stopwatch.Frequency)));
    }

    private static async Task<long?> ReadAllocatedAsync(HttpClient client, Uri metrics, CancellationToken ct)
    {
        string text;
        try
        {
            text = await client.GetStringAsync(metrics, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException)
        {
            return null;
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            return null; // timed out
        }

        const string Name = "process_allocated_bytes_total ";
        foreach (var line in text.AsSpan().EnumerateLines())
        {
            if (line.StartsWith(Name, StringComparison.Ordinal)
                && double.TryParse(line[Name.Length..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                return (long)value;
            }
        }

        return null;
    }

    private static HttpClient NewClient(TimeSpan timeout) =>
        new(new SocketsHttpHandler
        {
            // One connection per worker: N workers are N connections, as N Bitrix24 queue senders would be.
            MaxConnectionsPerServer = 1,
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(5),
        })
        {
            Timeout = timeout,
            DefaultRequestVersion = HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };

    /// <summary>
    /// Room for every latency without growing during the run: 200,000 req/s is beyond any loopback
    /// run on a small machine; a worker that still runs out grows its array once (doubling).
    /// </summary>
    private static int LatencyCapacity(LoadSettings settings)
    {
        var perWorker = settings.Duration.TotalSeconds * 200_000 / settings.Connections;
        return (int)Math.Clamp(perWorker, 4_096, 16_000_000);
    }

    /// <summary>The shared time line of one run and the CPU readings at its edges.</summary>
    internal sealed class RunClock(LoadSettings settings, Func<TimeSpan>? serverCpu)
    {
        private int measuring;

        public long WarmupEnd { get; } = Stopwatch.GetTimestamp() + (long)(settings.Warmup.TotalSeconds * Stopwatch.Frequency);

        public long End => WarmupEnd + (long)(settings.Duration.TotalSeconds * Stopwatch.Frequency);

        public long MeasureStart { get; private set; }

        public long MeasureEnd { get; private set; }

        public TimeSpan GeneratorCpu { get; private set; }

        public TimeSpan? ServerCpu { get; private set; }

        public MachineCpu? MachineAtStart { get; private set; }

        public MachineCpu? MachineAtEnd { get; private set; }

        /// <summary>Called by every worker's first measured request; only the first call counts.</summary>
        public void MarkMeasureStart(long timestamp)
        {
            if (Interlocked.CompareExchange(ref measuring, 1, 0) == 0)
            {
                MeasureStart = timestamp;
                GeneratorCpu = Environment.CpuUsage.TotalTime;
                ServerCpu = serverCpu?.Invoke();
                MachineAtStart = MachineCpu.Read();
            }
        }

        public void MarkEnd()
        {
            MeasureEnd = Stopwatch.GetTimestamp();
            if (measuring == 0)
            {
                MeasureStart = MeasureEnd;
                return;
            }

            GeneratorCpu = Environment.CpuUsage.TotalTime - GeneratorCpu;
            ServerCpu = serverCpu?.Invoke() - ServerCpu;
            MachineAtEnd = MachineCpu.Read();
        }
    }

    /// <summary>One closed-loop sender: its connection, its bodies and its own counters (merged at the end).</summary>
    internal sealed class Worker(int index, EventTemplate[] templates, int latencyCapacity, HttpClient client)
    {
        public EventTemplate[] Templates { get; } = templates;

        public HttpClient Client { get; } = client;

        /// <summary>Stopwatch ticks per measured, answered request; preallocated.</summary>
        public long[] Latencies { get; private set; } = new long[latencyCapacity];

        public int Count { get; private set; }

        /// <summary>Measured answers by status code (index = status; 599 holds anything larger).</summary>
        public long[] Statuses { get; } = new long[600];

        public Dictionary<string, long> Errors { get; } = [];

        public long WarmupRequests { get; private set; }

        public long WarmupFailures { get; private set; }

        public async Task RunAsync(Uri endpoint, RunClock run, CancellationToken ct)
        {
            // Unique across workers: the worker number in the top bits, its own sequence below.
            var id = (ulong)(index + 1) << 40;
            var next = 0;
            var sequence = 0UL;
            var first = true;
            while (!ct.IsCancellationRequested)
            {
                var template = Templates[next];
                next = next + 1 == Templates.Length ? 0 : next + 1;
                var body = template.Stamp(id | sequence++, DateTimeOffset.UtcNow.ToUnixTimeSeconds());

                var start = Stopwatch.GetTimestamp();
                if (start >= run.End)
                {
                    break;
                }

                var measured = start >= run.WarmupEnd;
                if (measured && first)
                {
                    first = false;
                    run.MarkMeasureStart(start);
                }

                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = FormContentType;
                using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = content };
                int status;
                try
                {
                    using var response = await Client.SendAsync(request, HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
                    status = (int)response.StatusCode;
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
                {
                    if (measured)
                    {
                        var key = ex is TaskCanceledException ? "timeout" : Describe(ex);
                        Errors[key] = Errors.GetValueOrDefault(key) + 1;
                    }
                    else
                    {
                        WarmupFailures++;
                    }

                    continue;
                }

                var elapsed = Stopwatch.GetTimestamp() - start;
                if (!measured)
                {
                    WarmupRequests++;
                    if (status != 200)
                    {
                        WarmupFailures++;
                    }

                    continue;
                }

                if (Count == Latencies.Length)
                {
                    var grown = Latencies;
                    Array.Resize(ref grown, grown.Length * 2);
                    Latencies = grown;
                }

                Latencies[Count++] = elapsed;
                Statuses[Math.Clamp(status, 0, Statuses.Length - 1)]++;
            }
        }

        private static string Describe(Exception ex)
        {
            var root = ex;
            while (root.InnerException is { } inner)
            {
                root = inner;
            }

            return root == ex ? $"{ex.GetType().Name}: {ex.Message}" : $"{ex.GetType().Name}: {root.GetType().Name}: {root.Message}";
        }
    }
}

/// <summary>The run cannot go on (server down, bad setup); the message says why, for a person to read.</summary>
internal sealed class BenchAbortedException(string message) : Exception(message);
