namespace Switchboard.Tests.Infrastructure;

/// <summary>A clock that moves only when a test says so.</summary>
public sealed class ManualTime(DateTimeOffset start) : TimeProvider
{
    private readonly Lock _sync = new();
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow()
    {
        lock (_sync)
        {
            return _now;
        }
    }

    public void Advance(TimeSpan by)
    {
        lock (_sync)
        {
            _now += by;
        }
    }
}
