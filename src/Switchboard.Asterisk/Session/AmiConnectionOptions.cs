namespace Switchboard.Asterisk.Session;

/// <summary>How a Login authenticates (manager.conf users; https://docs.asterisk.org/Asterisk_22_Documentation/API_Documentation/AMI_Actions/Login/).</summary>
public enum AmiAuthType
{
    /// <summary><c>Challenge</c> first, then <c>Key = md5(challenge + secret)</c>: the secret never crosses the wire.</summary>
    Md5,

    /// <summary><c>Secret</c> in clear text.</summary>
    Plain,
}

/// <summary>Where and how to reach one Asterisk's AMI.</summary>
public sealed class AmiConnectionOptions
{
    /// <summary>Host name or address.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>TCP port (manager.conf <c>port</c>).</summary>
    public int Port { get; set; } = 5038;

    /// <summary>The manager.conf user.</summary>
    public string Username { get; set; } = string.Empty;

    /// <summary>Its secret. Never logged, never in an exception message.</summary>
    public string Secret { get; set; } = string.Empty;

    /// <summary>The login method.</summary>
    public AmiAuthType AuthType { get; set; } = AmiAuthType.Md5;

    /// <summary>The Login's <c>Events</c> field: <c>on</c>, <c>off</c>, or a class list (<c>call,dialplan,cdr,agent,system</c>).</summary>
    public string Events { get; set; } = "on";

    /// <summary>How long to wait for the TCP connect, the banner and the login.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long an action waits for its response (a list: for its last item) before <see cref="TimeoutException"/>.</summary>
    public TimeSpan ActionTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A <c>Ping</c> goes out when nothing was received for this long.</summary>
    public TimeSpan PingInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Nothing received (not even a Pong) for this long: the connection is declared dead and closed. A ping
    /// must have gone unanswered for DeadAfter − PingInterval first, so it must be longer than <see cref="PingInterval"/>.
    /// </summary>
    public TimeSpan DeadAfter { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Bounds on what the peer may send.</summary>
    public Wire.AmiLimits Limits { get; set; } = Wire.AmiLimits.Default;

    /// <summary>How many received events may wait for the reader before the connection stops reading the socket.</summary>
    public int EventBuffer { get; set; } = 10_000;
}
