using System.Collections.Concurrent;

namespace Switchboard.Bitrix24.OAuth;

/// <summary>An <see cref="IPortalCredentials"/> in memory, for tests and tools. Keeps a log of what
/// was saved so tests can check ordering (a pair saved before it was used).</summary>
public sealed class InMemoryPortalCredentials : IPortalCredentials
{
    private readonly ConcurrentDictionary<string, PortalCredentials> _portals = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _log = new();

    /// <summary>Adds or replaces a portal.</summary>
    public void Put(PortalCredentials credentials)
    {
        ArgumentNullException.ThrowIfNull(credentials);
        _portals[credentials.MemberId] = credentials;
    }

    /// <summary>The portal as stored now, or null.</summary>
    public PortalCredentials? Current(string memberId) => _portals.GetValueOrDefault(memberId);

    /// <summary>What happened, in order: <c>save</c>, <c>endpoint &lt;uri&gt;</c>, <c>reauth &lt;reason&gt;</c>. No tokens.</summary>
    public IReadOnlyList<string> Log => [.. _log];

    /// <summary>Number of pairs saved.</summary>
    public int SaveCount => _log.Count(l => l == "save");

    /// <inheritdoc/>
    public ValueTask<PortalCredentials?> GetAsync(string memberId, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_portals.GetValueOrDefault(memberId));

    /// <inheritdoc/>
    public ValueTask SaveTokensAsync(string memberId, PortalTokens tokens, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        _portals.AddOrUpdate(memberId, _ => throw new InvalidOperationException($"Unknown portal {memberId}"),
            (_, p) => p with { AccessToken = tokens.AccessToken, RefreshToken = tokens.RefreshToken });
        _log.Enqueue("save");
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask RecordEndpointChangeAsync(string memberId, Uri newClientEndpoint, CancellationToken cancellationToken)
    {
        _portals.AddOrUpdate(memberId, _ => throw new InvalidOperationException($"Unknown portal {memberId}"),
            (_, p) => p with { ClientEndpoint = newClientEndpoint });
        _log.Enqueue($"endpoint {newClientEndpoint}");
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask MarkNeedsReauthorisationAsync(string memberId, string reason, CancellationToken cancellationToken)
    {
        _portals.AddOrUpdate(memberId, _ => throw new InvalidOperationException($"Unknown portal {memberId}"),
            (_, p) => p with { NeedsReauthorisation = true });
        _log.Enqueue($"reauth {reason}");
        return ValueTask.CompletedTask;
    }
}
