namespace Switchboard.Outbox;

/// <summary>How the outbox worker claims and retries (section <c>Switchboard:Outbox</c>).</summary>
public sealed class OutboxOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Switchboard:Outbox";

    /// <summary>
    /// False runs no outbox worker in this instance: it receives and journals only (with several
    /// instances on one PostgreSQL database, some may only receive while others send).
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Commands claimed per pass. 50 fills one Bitrix24 batch request per portal.</summary>
    public int BatchSize { get; set; } = 50;

    /// <summary>
    /// How long a claim holds a command. A worker that dies mid-send loses its claim after this and
    /// another takes the command. A pass that has not finished within 80 % of it gives up (the commands
    /// are retried), so no two instances send the same command at once. Longer than the REST client's
    /// own retries of one request (5 attempts of up to 65 s by default).
    /// </summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Failed attempts before a command is dead-lettered (<c>switchboard outbox list --dead</c>).</summary>
    public int MaxAttempts { get; set; } = 10;

    /// <summary>The first retry's delay; doubled per attempt, with jitter, up to <see cref="RetryMaxDelay"/>.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest delay between two attempts.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How often an idle worker looks for due commands (other instances' and retries coming due).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long done commands stay listed (<c>outbox list --status done</c>) before they are deleted.</summary>
    public TimeSpan KeepDone { get; set; } = TimeSpan.FromDays(30);

    /// <summary>PostgreSQL: how often each instance records that it is alive (on the database's clock).</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// PostgreSQL: an instance whose last heartbeat is older than this is taken for dead, and the
    /// commands it claimed are released to the others at once rather than after <see cref="Lease"/>.
    /// </summary>
    public TimeSpan HeartbeatLapse { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>A name for this worker in claims; the host name and process id when empty.</summary>
    public string WorkerId { get; set; } = "";

    /// <summary>Problems with these settings, each naming the setting.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (BatchSize < 1)
        {
            problems.Add($"{SectionName}:{nameof(BatchSize)} must be at least 1.");
        }

        if (Lease <= TimeSpan.Zero || RetryBaseDelay <= TimeSpan.Zero || RetryMaxDelay < RetryBaseDelay || PollInterval <= TimeSpan.Zero)
        {
            problems.Add($"{SectionName}: {nameof(Lease)}, {nameof(RetryBaseDelay)} and {nameof(PollInterval)} must be positive and {nameof(RetryMaxDelay)} at least {nameof(RetryBaseDelay)}.");
        }

        if (HeartbeatInterval <= TimeSpan.Zero || HeartbeatLapse < HeartbeatInterval * 3)
        {
            problems.Add($"{SectionName}:{nameof(HeartbeatInterval)} must be positive and {nameof(HeartbeatLapse)} at least three intervals.");
        }

        if (KeepDone <= TimeSpan.Zero)
        {
            problems.Add($"{SectionName}:{nameof(KeepDone)} must be positive.");
        }

        if (MaxAttempts < 1)
        {
            problems.Add($"{SectionName}:{nameof(MaxAttempts)} must be at least 1.");
        }

        return problems;
    }
}
