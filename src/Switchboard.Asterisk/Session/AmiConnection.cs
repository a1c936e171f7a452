using Switchboard.Asterisk.Events;

namespace Switchboard.Asterisk.Session;

/// <summary>The login was refused (<c>Authentication failed</c>, <c>Permission denied</c>…): retrying as is will not help.</summary>
public sealed class AmiLoginException(string message) : Exception(message);

/// <summary>
/// The connection ended while an action was in flight. <see cref="ActionWritten"/> says whether the
/// action's bytes had been handed to the socket: when false, it certainly never reached Asterisk and is
/// safe to send again; when true, its outcome is unknown.
/// </summary>
public sealed class AmiConnectionLostException(string message, bool actionWritten, Exception? inner = null) : IOException(message, inner)
{
    /// <summary>True when the action may have reached Asterisk.</summary>
    public bool ActionWritten { get; } = actionWritten;
}

/// <summary>
/// One logged-in AMI session over TCP. Responses are matched to their actions by ActionID (several
/// actions may be in flight); every event that is not an item of a pending list goes to
/// <see cref="Events"/>, in the order received. Pings keep it alive and detect a dead peer. It never
/// reconnects by itself: when <see cref="Closed"/> completes, open a new one (<see cref="AmiReconnectPolicy"/>).
/// </summary>
public sealed class AmiConnection : IAsyncDisposable
{
    private AmiConnection() => throw new NotImplementedException();

    /// <summary>Connects, reads the banner and logs in.</summary>
    /// <exception cref="AmiLoginException">Asterisk refused the login.</exception>
    /// <exception cref="TimeoutException">No banner or login answer within <see cref="AmiConnectionOptions.ConnectTimeout"/>.</exception>
    /// <exception cref="IOException">The connect failed or the socket closed (a <see cref="System.Net.Sockets.SocketException"/> inside).</exception>
    public static Task<AmiConnection> OpenAsync(AmiConnectionOptions options, CancellationToken cancellationToken, TimeProvider? time = null) => throw new NotImplementedException();

    /// <summary>The banner line, e.g. <c>Asterisk Call Manager/11.0.0</c>.</summary>
    public string Banner => throw new NotImplementedException();

    /// <summary>The AMI version from the banner (<c>11.0.0</c> for Asterisk 22), or null when the banner has none.</summary>
    public string? AmiVersion => throw new NotImplementedException();

    /// <summary>The events received, typed, in order. Completes when the connection closes.</summary>
    public System.Threading.Channels.ChannelReader<AmiEvent> Events => throw new NotImplementedException();

    /// <summary>When anything was last received (the dead-peer check uses it).</summary>
    public DateTimeOffset LastReceived => throw new NotImplementedException();

    /// <summary>Completes when the connection has ended; its result says why (null after <see cref="DisposeAsync"/> or a Logoff).</summary>
    public Task<Exception?> Closed => throw new NotImplementedException();

    /// <summary>Sends an action and waits for its response (for a list action, for its Complete event).</summary>
    /// <exception cref="AmiConnectionLostException">The connection ended first.</exception>
    /// <exception cref="TimeoutException">No response within <see cref="AmiConnectionOptions.ActionTimeout"/> (the connection stays open).</exception>
    public Task<AmiResponse> SendAsync(AmiAction action, CancellationToken cancellationToken) => throw new NotImplementedException();

    /// <summary>Sends <c>Logoff</c> (best effort) and closes the socket.</summary>
    public ValueTask DisposeAsync() => throw new NotImplementedException();
}

/// <summary>Jittered exponential back-off between reconnects: doubled after each failure, capped, reset after a connection that lasted.</summary>
public sealed class AmiReconnectPolicy
{
    /// <summary>Starts at <paramref name="initial"/> (500 ms), caps at <paramref name="max"/> (30 s).</summary>
    public AmiReconnectPolicy(TimeSpan? initial = null, TimeSpan? max = null, Random? random = null) => throw new NotImplementedException();

    /// <summary>The delay before the next attempt, ±20 % jitter.</summary>
    public TimeSpan NextDelay() => throw new NotImplementedException();

    /// <summary>A connection succeeded and stayed up: the next failure starts from the initial delay again.</summary>
    public void Reset() => throw new NotImplementedException();
}
