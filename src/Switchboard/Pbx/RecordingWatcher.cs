using System.Collections.Concurrent;
using Switchboard.Calls;

namespace Switchboard.Pbx;

/// <summary>
/// Attaches a call's recording once the file is complete. No AMI event says so: MixMonitor closes the
/// file in its own thread after the hangup (app_mixmonitor.c), and uploading it earlier sends a partial
/// file. So a recording counts as complete when the call has ended and the file's size
/// has not changed for <see cref="AsteriskPbxOptions.RecordingSettleTime"/>. Bitrix24 takes only wav and
/// mp3 (https://apidocs.bitrix24.com/api-reference/telephony/telephony-external-call-attach-record.html);
/// any other file, or one that never appears, is noted on the call instead.
/// </summary>
public sealed partial class RecordingWatcher(TimeProvider time, ILogger<RecordingWatcher> logger) : BackgroundService
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(250);

    private readonly ConcurrentDictionary<(string MemberId, string CallId, string Path), Watched> _files = new();
    private readonly ConcurrentDictionary<(string MemberId, string CallId), Ended> _ended = new();

    /// <summary>Recordings waiting for their call's end or for their file to settle.</summary>
    public int Pending => _files.Count;

    /// <summary>A call's recording started.</summary>
    public void Started(AsteriskConnector pbx, string memberId, string callId, string path)
    {
        ArgumentNullException.ThrowIfNull(pbx);
        _files.TryAdd((memberId, callId, path), new Watched(pbx));
    }

    /// <summary>A call ended; its recordings are checked from now on (only an answered call's are attached).</summary>
    public void CallEnded(AsteriskConnector pbx, string memberId, string callId, bool answered, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(pbx);
        _ended[(memberId, callId)] = new Ended(answered, time.GetUtcNow());
    }

    /// <summary>After a (re)connect: the recent calls of this PBX with a recording not attached yet, ended or still going on.</summary>
    public async Task ResumeAsync(AsteriskConnector pbx, string memberId, SqlCallStore calls, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pbx);
        ArgumentNullException.ThrowIfNull(calls);
        foreach (var stored in await calls.ListAsync(500, memberId, cancellationToken).ConfigureAwait(false))
        {
            var r = stored.Record;
            if (!string.Equals(r.Pbx, pbx.Name, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            // A call still going on is watched again too: its end, seen by this process, attaches it.
            foreach (var path in r.RecordingFiles.Items.Where(p => !r.Recordings.Contains(p) && !r.Problems.Items.Any(m => m.Contains(p, StringComparison.Ordinal))))
            {
                Started(pbx, memberId, r.CallId, path);
                if (r.EndKnown)
                {
                    _ended.TryAdd((memberId, r.CallId), new Ended(r.Outcome?.Status.IsSuccess == true, time.GetUtcNow()));
                }
            }
        }
    }

    /// <summary>One look at every watched file; returns how many were settled (attached, noted or dropped).</summary>
    public async Task<int> CheckAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var settled = 0;
        foreach (var (key, watched) in _files)
        {
            if (!_ended.TryGetValue((key.MemberId, key.CallId), out var ended))
            {
                continue;
            }

            var options = watched.Pbx.Options;
            LedgerInput? fact = null;
            if (!ended.Answered)
            {
                // Nobody talked: MixMonitor wrote at most a header. Nothing to attach, nothing wrong.
            }
            else if (!IsAccepted(key.Path))
            {
                fact = new CallProblem(key.CallId, $"Recording {key.Path} not attached: Bitrix24 accepts only .wav and .mp3 files (set MixMonitor's file name to end in .wav).");
            }
            else if (Size(key.Path) is { } size)
            {
                if (size != watched.Size)
                {
                    watched.Size = size;
                    watched.ChangedAt = now;
                    continue;
                }

                if (now - watched.ChangedAt < options.RecordingSettleTime)
                {
                    continue;
                }

                fact = new RecordingReady(key.CallId, key.Path, now);
            }
            else if (now - ended.At > options.RecordingGiveUpAfter)
            {
                fact = new CallProblem(key.CallId, $"Recording {key.Path} never appeared to Switchboard within {options.RecordingGiveUpAfter}: share the PBX's recordings directory with Switchboard, and map its path with RecordingPathFrom/RecordingPathTo if it is mounted elsewhere.");
            }
            else
            {
                continue;
            }

            if (fact is not null)
            {
                await watched.Pbx.CommitAsync([new PbxFact(key.MemberId, fact)], cancellationToken).ConfigureAwait(false);
                if (fact is CallProblem problem)
                {
                    LogProblem(logger, key.CallId, problem.Message);
                }
            }

            _files.TryRemove(key, out _);
            settled++;
        }

        // Ended calls with no recording left to watch are forgotten after a while.
        foreach (var (key, ended) in _ended)
        {
            if (now - ended.At > TimeSpan.FromMinutes(30) && !_files.Keys.Any(k => k.MemberId == key.MemberId && k.CallId == key.CallId))
            {
                _ended.TryRemove(key, out _);
            }
        }

        return settled;
    }

    /// <inheritdoc/>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(Tick, time, stoppingToken).ConfigureAwait(false);
                await CheckAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                LogCheckFailed(logger, ex.Message);
            }
        }
    }

    private static bool IsAccepted(string path) =>
        path.EndsWith(".wav", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".mp3", StringComparison.OrdinalIgnoreCase);

    private static long? Size(string path)
    {
        try
        {
            var info = new FileInfo(path);
            return info.Exists ? info.Length : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return null;
        }
    }

    private sealed class Watched(AsteriskConnector pbx)
    {
        public AsteriskConnector Pbx { get; } = pbx;

        public long Size { get; set; } = -1;

        public DateTimeOffset ChangedAt { get; set; }
    }

    private sealed record Ended(bool Answered, DateTimeOffset At);

    [LoggerMessage(EventId = 5100, Level = LogLevel.Warning, Message = "Call {CallId}: {Problem}")]
    private static partial void LogProblem(ILogger logger, string callId, string problem);

    [LoggerMessage(EventId = 5101, Level = LogLevel.Warning, Message = "Recordings could not be checked: {Error}")]
    private static partial void LogCheckFailed(ILogger logger, string error);
}
