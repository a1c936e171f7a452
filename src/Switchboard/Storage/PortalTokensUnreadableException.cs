namespace Switchboard.Storage;

/// <summary>
/// A portal's stored tokens do not decrypt with this instance's key ring: the ring is another
/// instance's, was replaced or lost, or the row was written without encryption. Broken configuration,
/// not bad input: the portal's work waits (the outbox defers it) until the right key ring is in place.
/// Names the portal and the folder, never a token.
/// </summary>
public sealed class PortalTokensUnreadableException : Exception
{
    /// <summary>For the portal <paramref name="memberId"/>, read with the key ring in <paramref name="keyRingFolder"/>.</summary>
    public PortalTokensUnreadableException(string memberId, string keyRingFolder)
        : base($"The stored tokens of portal {memberId} cannot be decrypted with the key ring in {keyRingFolder}. Point Switchboard:Store:KeyRingDirectory at the key ring that encrypted them (every instance on one database must share one), or install the application on the portal again.")
    {
        MemberId = memberId;
        KeyRingFolder = keyRingFolder;
    }

    /// <inheritdoc/>
    public PortalTokensUnreadableException()
        : this(string.Empty, string.Empty)
    {
    }

    /// <inheritdoc/>
    public PortalTokensUnreadableException(string message)
        : base(message)
    {
        MemberId = string.Empty;
        KeyRingFolder = string.Empty;
    }

    /// <inheritdoc/>
    public PortalTokensUnreadableException(string message, Exception innerException)
        : base(message, innerException)
    {
        MemberId = string.Empty;
        KeyRingFolder = string.Empty;
    }

    /// <summary>The portal's <c>member_id</c>.</summary>
    public string MemberId { get; }

    /// <summary>The key ring that could not decrypt them.</summary>
    public string KeyRingFolder { get; }
}
