using System.Data.Common;
using System.Text.Json;
using Switchboard.Asterisk.Events;
using Switchboard.Asterisk.Session;
using Switchboard.Calls;
using Switchboard.Hosting;
using Switchboard.Journal;
using Switchboard.Outbox;

namespace Switchboard.Pbx;

/// <summary>Where a PBX's connection is.</summary>
public enum PbxState
{
    /// <summary>Not started yet, or taking the lease.</summary>
    Starting,

    /// <summary>Connecting and logging in.</summary>
    Connecting,

    /// <summary>Logged in and following calls.</summary>
    Connected,

    /// <summary>Another instance holds the connection (PostgreSQL); this one takes over if that one stops renewing it.</summary>
    Standby,

    /// <summary>The PBX does not answer (connect refused, timed out, the connection dropped).</summary>
    Unreachable,

    /// <summary>Asterisk refused the login: check the manager.conf user, its secret and its classes.</summary>
    LoginRefused,

    /// <summary>The ledger's database cannot hold the lease right now.</summary>
    StoreUnavailable,

    /// <summary>Switchboard is stopping.</summary>
    Stopped,
}

/// <summary>What <c>switchboard pbx list/show</c>, <c>/readyz</c> and <c>/metrics</c> say about one PBX.</summary>
public sealed record PbxStatusReport
{
    /// <summary>The name in the settings.</summary>
    public required string Name { get; init; }

    /// <summary>host:port.</summary>
    public required string Address { get; init; }

    /// <summary>Where the connection is.</summary>
    public PbxState State { get; init; }

    /// <summary>The instance holding the connection.</summary>
    public string? Holder { get; init; }

    /// <summary>The portal it serves.</summary>
    public string? MemberId { get; init; }

    /// <summary>The AMI version from the banner.</summary>
    public string? AmiVersion { get; init; }

    /// <summary>Asterisk's version (<c>core show version</c>).</summary>
    public string? AsteriskVersion { get; init; }

    /// <summary>Since when it is connected.</summary>
    public DateTimeOffset? ConnectedSince { get; init; }

    /// <summary>When the last event arrived.</summary>
    public DateTimeOffset? LastEventAt { get; init; }

    /// <summary>Calls followed now.</summary>
    public int LiveCalls { get; init; }

    /// <summary>The last problem, in words.</summary>
    public string? LastError { get; init; }

    /// <summary>When that happened.</summary>
    public DateTimeOffset? LastErrorAt { get; init; }

    /// <summary>Calls ended by reconciliation after an outage, since this instance started.</summary>
    public long ReconciledCalls { get; init; }
}

/// <summary>
/// One Asterisk: holds the lease on its AMI connection (one instance at a time), connects and logs in
/// with back-off, narrows the events with <c>Filter</c>, reconciles the calls after every (re)connect
/// (AMI never replays an event), and turns events into ledger facts through <see cref="CallTracker"/>,
/// committing them before anything acts on them. The originate handler sends through it.
/// </summary>
public sealed partial class AsteriskConnector(
    string name,
    AsteriskPbxOptions options,
    PbxOptions pbxOptions,
    SqlCallStore calls,
    IJournalStore journal,
    StoreClock clock,
    WorkSignal outboxSignal,
    RecordingWatcher recordings,
    SwitchboardMetrics metrics,
    TimeProvider time,
    string instanceId,
    ILogger logger)
{
    private readonly Lock _lock = new();
    private AmiConnection? _session;
    private PbxStatusReport _status = new() { Name = name, Address = $"{options.Host}:{options.Port}", MemberId = options.MemberId };
    private DateTimeOffset? _lastWatched;
    private long _reconciled;

    /// <summary>The name in the settings.</summary>
    public string Name => name;

    /// <summary>Its settings.</summary>
    public AsteriskPbxOptions Options => options;

    /// <summary>Its calls.</summary>
    public CallTracker Tracker { get; } = new(name, options);

    /// <summary>The portal it serves, once known.</summary>
    public string? MemberId { get; private set; } = options.MemberId;

    /// <summary>True while this instance holds the connection's lease.</summary>
    public bool HoldsLease { get; private set; }

    /// <summary>True when connected, logged in and reconciled: originates may go out.</summary>
    public bool IsReady { get; private set; }

    /// <summary>The status as of now.</summary>
    public PbxStatusReport Status
    {
        get
        {
            lock (_lock)
            {
                return _status with { LiveCalls = Tracker.LiveCalls, ReconciledCalls = Interlocked.Read(ref _reconciled) };
            }
        }
    }

    /// <summary>Sends an action on the current session.</summary>
    /// <exception cref="AmiConnectionLostException">Not connected (nothing written), or the connection ended.</exception>
    public Task<AmiResponse> SendAsync(AmiAction action, CancellationToken cancellationToken)
    {
        var session = _session;
        return session is null || !IsReady
            ? throw new AmiConnectionLostException($"PBX {name} is not connected.", actionWritten: false)
            : session.SendAsync(action, cancellationToken);
    }

    /// <summary>The live channels (CoreShowChannels).</summary>
    public async Task<IReadOnlyList<CoreShowChannelEvent>> LiveChannelsAsync(CancellationToken cancellationToken)
    {
        var r = await SendAsync(new AmiAction("CoreShowChannels"), cancellationToken).ConfigureAwait(false);
        return r.IsSuccess
            ? [.. r.Items.OfType<CoreShowChannelEvent>()]
            : throw new IOException($"CoreShowChannels failed on {name}: {r.Text}");
    }

    /// <summary>Commits facts, then wakes the outbox. Retries a failing store until it commits or <paramref name="cancellationToken"/> ends.</summary>
    public async Task CommitAsync(IReadOnlyList<PbxFact> facts, CancellationToken cancellationToken)
    {
        if (facts.Count == 0)
        {
            return;
        }

        var delay = TimeSpan.FromMilliseconds(200);
        while (true)
        {
            try
            {
                var now = await StoreNowAsync(cancellationToken).ConfigureAwait(false);
                var (_, commands) = await calls.ApplyManyAsync([.. facts.Select(f => (f.MemberId, f.Input))], now, cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (Exception ex) when (ex is DbException or IOException or TimeoutException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
            {
                LogCommitFailed(logger, name, ex.GetType().Name, ex.Message);
                await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }

        outboxSignal.Pulse();
        foreach (var fact in facts)
        {
            switch (fact.Input)
            {
                case PbxHungUp h:
                    metrics.PbxCallEnded(h.Status.Code, h.Reconstructed);
                    if (h.Reconstructed)
                    {
                        Interlocked.Increment(ref _reconciled);
                    }

                    recordings.CallEnded(this, fact.MemberId, h.CallId, h.Status.IsSuccess, h.At);
                    break;
                case RecordingStarted rs:
                    recordings.Started(this, fact.MemberId, rs.CallId, rs.Path);
                    break;
            }
        }
    }

    /// <summary>Holds the lease, connects, follows, reconnects, until stopped.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        var backoff = new AmiReconnectPolicy();
        var leaseEvery = pbxOptions.LeaseDuration / 3;
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                PbxLeaseResult lease;
                try
                {
                    lease = await HoldAsync(stopping).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is DbException or IOException or TimeoutException or InvalidOperationException && !stopping.IsCancellationRequested)
                {
                    SetState(PbxState.StoreUnavailable, $"The lease cannot be taken: {ex.Message}");
                    await Task.Delay(leaseEvery, time, stopping).ConfigureAwait(false);
                    continue;
                }

                if (!lease.Held)
                {
                    HoldsLease = false;
                    lock (_lock)
                    {
                        _status = _status with { State = PbxState.Standby, Holder = lease.Previous?.Holder };
                    }

                    await Task.Delay(leaseEvery, time, stopping).ConfigureAwait(false);
                    continue;
                }

                if (!HoldsLease)
                {
                    LogLeaseTaken(logger, name, instanceId, lease.Previous?.Holder ?? "nobody");
                }

                HoldsLease = true;
                // Up to when the PBX was watched before this connection: by this process (a network
                // cut), else by the instance that held it last (a crash or a takeover).
                var watchedUntil = _lastWatched
                    ?? (lease.Previous is { } p && !string.Equals(p.Holder, instanceId, StringComparison.Ordinal) ? p.RenewedAt : (DateTimeOffset?)null);

                bool connected;
                try
                {
                    connected = await ConnectAndFollowAsync(watchedUntil, backoff, stopping).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
                {
                    // A store error while reconciling, or anything unforeseen: this PBX waits and tries
                    // again; it must never take the server (and every other PBX) down with it.
                    IsReady = false;
                    SetState(ex is DbException ? PbxState.StoreUnavailable : PbxState.Unreachable, $"The connection failed: {ex.GetType().Name}: {ex.Message}");
                    LogDisconnected(logger, name, ex.GetType().Name, ex.Message);
                    connected = false;
                }

                if (!connected && !stopping.IsCancellationRequested)
                {
                    await Task.Delay(backoff.NextDelay(), time, stopping).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        finally
        {
            IsReady = false;
            SetState(PbxState.Stopped, null);
            if (HoldsLease)
            {
                // Handed over at once to another instance instead of when the lease lapses.
                using var release = new CancellationTokenSource(TimeSpan.FromSeconds(3));
                try
                {
                    await calls.ReleasePbxAsync(name, instanceId, StatusJson(), release.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is DbException or IOException or OperationCanceledException or InvalidOperationException)
                {
                    LogReleaseFailed(logger, name, ex.Message);
                }

                HoldsLease = false;
            }
        }
    }

    /// <returns>False when no session could be opened.</returns>
    private async Task<bool> ConnectAndFollowAsync(DateTimeOffset? watchedUntil, AmiReconnectPolicy backoff, CancellationToken stopping)
    {
        SetState(PbxState.Connecting, null);
        AmiConnection session;
        try
        {
            session = await AmiConnection.OpenAsync(options.ToConnectionOptions(), stopping, time).ConfigureAwait(false);
        }
        catch (AmiLoginException ex)
        {
            SetState(PbxState.LoginRefused, $"Asterisk refused the login of '{options.Username}': {ex.Message} Check the user's secret and classes in manager.conf.");
            metrics.PbxConnection(name, "login_refused");
            LogLoginRefused(logger, name, options.Username, ex.Message);
            return false;
        }
        catch (Exception ex) when (ex is IOException or TimeoutException or System.Net.Sockets.SocketException)
        {
            SetState(PbxState.Unreachable, $"Cannot reach AMI at {options.Host}:{options.Port}: {ex.Message}");
            metrics.PbxConnection(name, "unreachable");
            LogUnreachable(logger, name, options.Host, options.Port, ex.Message);
            return false;
        }

        await using (session.ConfigureAwait(false))
        {
            using var sessionScope = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            try
            {
                _session = session;
                var version = await AsteriskVersionAsync(session, stopping).ConfigureAwait(false);
                await AddFiltersAsync(session, stopping).ConfigureAwait(false);
                MemberId = await ResolveMemberAsync(stopping).ConfigureAwait(false);

                // Reconcile before any originate may go out on this session, and before the events that
                // queued meanwhile are folded: those then only refine what the channels showed.
                var now = await StoreNowAsync(stopping).ConfigureAwait(false);
                var live = (await session.SendAsync(new AmiAction("CoreShowChannels"), stopping).ConfigureAwait(false)).Items.OfType<CoreShowChannelEvent>().ToList();
                if (MemberId is { } member)
                {
                    var open = await calls.ListOpenAsync(member, stopping).ConfigureAwait(false);
                    var facts = Tracker.Reconcile(member, live, open, now, watchedUntil ?? now);
                    await CommitAsync(facts, stopping).ConfigureAwait(false);
                    await recordings.ResumeAsync(this, member, calls, stopping).ConfigureAwait(false);
                    if (facts.Count > 0)
                    {
                        var finished = facts.Count(f => f.Input is PbxHungUp);
                        LogReconciled(logger, name, finished, facts.Count - finished);
                    }
                }

                IsReady = true;
                backoff.Reset();
                _lastWatched = null;
                metrics.PbxConnection(name, "connected");
                lock (_lock)
                {
                    _status = _status with
                    {
                        State = PbxState.Connected,
                        Holder = instanceId,
                        MemberId = MemberId,
                        AmiVersion = session.AmiVersion,
                        AsteriskVersion = version,
                        ConnectedSince = time.GetUtcNow(),
                    };
                }

                LogConnected(logger, name, options.Host, options.Port, session.AmiVersion ?? "?", version ?? "?");

                var pump = PumpAsync(session, sessionScope.Token);
                var renew = RenewAsync(sessionScope.Token);
                var ended = await Task.WhenAny(session.Closed, pump, renew).ConfigureAwait(false);
                IsReady = false;
                _lastWatched = time.GetUtcNow();
                await sessionScope.CancelAsync().ConfigureAwait(false);
                await IgnoreCancelAsync(pump).ConfigureAwait(false);
                var leaseKept = await IgnoreCancelAsync(renew).ConfigureAwait(false);
                if (ended == renew && !leaseKept && !stopping.IsCancellationRequested)
                {
                    SetState(PbxState.Standby, "The lease on this connection was lost to another instance.");
                    HoldsLease = false;
                }
                else if (!stopping.IsCancellationRequested)
                {
                    var reason = session.Closed.IsCompleted ? session.Closed.Result : null;
                    SetState(PbxState.Unreachable, "The AMI connection closed: " + (reason?.Message ?? "by Asterisk"));
                    metrics.PbxConnection(name, "disconnected");
                    LogDisconnected(logger, name, reason?.GetType().Name ?? "closed", reason?.Message ?? "");
                }

                return true;
            }
            catch (Exception ex) when (ex is IOException or TimeoutException && !stopping.IsCancellationRequested)
            {
                IsReady = false;
                _lastWatched ??= time.GetUtcNow();
                SetState(PbxState.Unreachable, $"The AMI session failed while starting: {ex.Message}");
                LogDisconnected(logger, name, ex.GetType().Name, ex.Message);
                return false;
            }
            finally
            {
                IsReady = false;
                _session = null;
                Tracker.ForgetEnded();
            }
        }
    }

    private async Task PumpAsync(AmiConnection session, CancellationToken cancellationToken)
    {
        var reader = session.Events;
        var facts = new List<PbxFact>();
        while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            facts.Clear();
            var received = time.GetUtcNow();
            var n = 0;
            while (n < 1000 && reader.TryRead(out var e))
            {
                n++;
                facts.AddRange(Tracker.Handle(e, received));
                switch (e)
                {
                    case ReloadEvent reload:
                        LogReload(logger, name, reload.Module ?? "all");
                        break;
                    case ShutdownEvent shutdown:
                        LogShutdown(logger, name, shutdown.Shutdown ?? "?", shutdown.Restart);
                        break;
                }
            }

            lock (_lock)
            {
                _status = _status with { LastEventAt = received };
            }

            await CommitAsync([.. facts], cancellationToken).ConfigureAwait(false);
        }
    }

    /// <returns>True while the lease is held; false once another instance has it.</returns>
    private async Task<bool> RenewAsync(CancellationToken cancellationToken)
    {
        var every = pbxOptions.LeaseDuration / 3;
        while (true)
        {
            await Task.Delay(every, time, cancellationToken).ConfigureAwait(false);
            try
            {
                if (!(await HoldAsync(cancellationToken).ConfigureAwait(false)).Held)
                {
                    return false;
                }
            }
            catch (Exception ex) when (ex is DbException or IOException or TimeoutException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
            {
                // The lease runs on: another instance cannot take it before it lapses. Before that, this
                // one lets go of the PBX, so two never follow (or ring) it at once.
                LogRenewFailed(logger, name, ex.Message);
                if (time.GetUtcNow() - _lastHeld > pbxOptions.LeaseDuration * 2 / 3)
                {
                    return false;
                }
            }
        }
    }

    private DateTimeOffset _lastHeld;

    private async Task<PbxLeaseResult> HoldAsync(CancellationToken cancellationToken)
    {
        var now = await StoreNowAsync(cancellationToken).ConfigureAwait(false);
        // SQLite runs one instance: a lease another holder left there is a dead process's (a crash), and
        // waiting for it to lapse would leave the PBX unwatched for nothing.
        var result = await calls.TryHoldPbxAsync(name, instanceId, now, now + pbxOptions.LeaseDuration, StatusJson(), cancellationToken, takeOver: !HoldsLease && calls is SqliteCallStore).ConfigureAwait(false);
        if (result.Held)
        {
            _lastHeld = time.GetUtcNow();
        }

        return result;
    }

    private async Task<DateTimeOffset> StoreNowAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await clock.NowAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return clock.Now;
        }
    }

    private static async Task<string?> AsteriskVersionAsync(AmiConnection session, CancellationToken cancellationToken)
    {
        try
        {
            var r = await session.SendAsync(new AmiAction("Command").Add("Command", "core show version"), cancellationToken).ConfigureAwait(false);
            return r.IsSuccess && r.Output.Count > 0 ? r.Output[0] : null;
        }
        catch (TimeoutException)
        {
            return null; // the user may lack the command class: not needed to follow calls
        }
    }

    /// <summary>
    /// Legacy session filters (the Filter action, Asterisk 10+: a regular expression over the whole
    /// event, https://docs.asterisk.org/Asterisk_22_Documentation/API_Documentation/AMI_Actions/Filter/):
    /// only the events the connector uses, and of VarSet only the variables it reads. Refused (the
    /// user lacks the system class) means every event comes, which works, only busier.
    /// </summary>
    private async Task AddFiltersAsync(AmiConnection session, CancellationToken cancellationToken)
    {
        if (!options.FilterEvents)
        {
            return;
        }

        string[] filters =
        [
            "Event: (Newchannel|Newexten|Newstate|Hangup|DialBegin|DialEnd|BridgeEnter|BridgeLeave|OriginateResponse|MixMonitorStart|MixMonitorStop|BlindTransfer|AttendedTransfer|QueueCaller|Agent|Cdr|FullyBooted|Reload|Shutdown)",
            $"Variable: (MIXMONITOR_FILENAME|ANSWEREDTIME_MS|{System.Text.RegularExpressions.Regex.Escape(options.CallIdVariable)})",
        ];
        foreach (var filter in filters)
        {
            var r = await session.SendAsync(new AmiAction("Filter").Add("Operation", "Add").Add("Filter", filter), cancellationToken).ConfigureAwait(false);
            if (!r.IsSuccess)
            {
                LogFilterRefused(logger, name, r.Text ?? "");
                return;
            }
        }
    }

    /// <summary>
    /// The portal this PBX serves: the configured MemberId, else the one portal installed (looked up
    /// again until there is exactly one, since the PBX may connect before the install arrives).
    /// </summary>
    public async Task<string?> ResolveMemberAsync(CancellationToken cancellationToken)
    {
        if (options.MemberId is { Length: > 0 } configured)
        {
            return configured;
        }

        if (MemberId is { } known)
        {
            return known;
        }

        var installed = (await journal.ListPortalsAsync(cancellationToken).ConfigureAwait(false)).Where(p => p.State == PortalState.Installed).ToList();
        MemberId = installed.Count == 1 ? installed[0].MemberId : null;
        lock (_lock)
        {
            _status = _status with { MemberId = MemberId };
        }

        return MemberId;
    }

    private void SetState(PbxState state, string? error)
    {
        lock (_lock)
        {
            _status = _status with
            {
                State = state,
                LastError = error ?? _status.LastError,
                LastErrorAt = error is null ? _status.LastErrorAt : time.GetUtcNow(),
                ConnectedSince = state == PbxState.Connected ? _status.ConnectedSince : null,
            };
        }
    }

    private string StatusJson() => JsonSerializer.Serialize(Status, PbxJson.Options);

    private static async Task<bool> IgnoreCancelAsync(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return true;
        }
        catch (Exception ex) when (ex is IOException or System.Threading.Channels.ChannelClosedException)
        {
            return true;
        }
    }

    private static async Task<bool> IgnoreCancelAsync(Task<bool> task)
    {
        try
        {
            return await task.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return true;
        }
    }

    [LoggerMessage(EventId = 5000, Level = LogLevel.Information, Message = "PBX {Pbx} connected at {Host}:{Port} (AMI {AmiVersion}, {AsteriskVersion})")]
    private static partial void LogConnected(ILogger logger, string pbx, string host, int port, string amiVersion, string asteriskVersion);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "PBX {Pbx} unreachable at {Host}:{Port}: {Error}")]
    private static partial void LogUnreachable(ILogger logger, string pbx, string host, int port, string error);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Error, Message = "PBX {Pbx} refused the login of {Username}: {Error}")]
    private static partial void LogLoginRefused(ILogger logger, string pbx, string username, string error);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "PBX {Pbx} connection ended ({Reason}): {Error}; reconnecting")]
    private static partial void LogDisconnected(ILogger logger, string pbx, string reason, string error);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Information, Message = "PBX {Pbx}: this instance ({Instance}) holds the connection now (before: {Previous})")]
    private static partial void LogLeaseTaken(ILogger logger, string pbx, string instance, string previous);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Warning, Message = "PBX {Pbx}: the connection's lease could not be renewed: {Error}")]
    private static partial void LogRenewFailed(ILogger logger, string pbx, string error);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Warning, Message = "PBX {Pbx}: the connection's lease could not be released: {Error}")]
    private static partial void LogReleaseFailed(ILogger logger, string pbx, string error);

    [LoggerMessage(EventId = 5007, Level = LogLevel.Warning, Message = "PBX {Pbx}: facts could not be committed, retrying: {ErrorType} {Error}")]
    private static partial void LogCommitFailed(ILogger logger, string pbx, string errorType, string error);

    [LoggerMessage(EventId = 5008, Level = LogLevel.Warning, Message = "PBX {Pbx} refused the event filter ({Error}); every event is read instead")]
    private static partial void LogFilterRefused(ILogger logger, string pbx, string error);

    [LoggerMessage(EventId = 5009, Level = LogLevel.Information, Message = "PBX {Pbx} reconciled after connecting: {Ended} call(s) ended while not watched, {Other} other fact(s)")]
    private static partial void LogReconciled(ILogger logger, string pbx, int ended, int other);

    [LoggerMessage(EventId = 5010, Level = LogLevel.Information, Message = "PBX {Pbx} reloaded ({Module})")]
    private static partial void LogReload(ILogger logger, string pbx, string module);

    [LoggerMessage(EventId = 5011, Level = LogLevel.Warning, Message = "PBX {Pbx} is shutting down ({Shutdown}, restart {Restart})")]
    private static partial void LogShutdown(ILogger logger, string pbx, string shutdown, bool restart);
}

/// <summary>JSON of the PBX status (stored with the lease, printed by the CLI).</summary>
public static class PbxJson
{
    /// <summary>camelCase, enums as names, nulls left out.</summary>
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };
}
