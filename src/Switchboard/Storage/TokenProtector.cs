using System.Security.Cryptography;
using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;

namespace Switchboard.Storage;

/// <summary>
/// Encrypts portal access and refresh tokens before they are stored, with ASP.NET Core Data Protection
/// (authenticated encryption, keys rotated every 90 days, old keys kept for reading). The key ring is a
/// folder of XML key files, created 0700 with its files 0600; whoever can read it can read the tokens,
/// so it is kept apart from database backups where possible and shared by every instance that uses the
/// same database. Each token is bound to its portal's <c>member_id</c>: a ciphertext copied into another
/// portal's row does not decrypt.
/// </summary>
public sealed class TokenProtector : IDisposable
{
    // The application name is what isolates one application's payloads from another's on a shared key
    // ring; left unset it defaults to the content root, which differs between installs of one server.
    private const string ApplicationName = "Switchboard";
    private const string Purpose = "Switchboard.PortalTokens.v1";

    /// <summary>A key created by another instance sharing the ring is seen after this long at most.</summary>
    private static readonly TimeSpan ReloadAfter = TimeSpan.FromSeconds(30);

    private readonly object _gate = new();
    private readonly bool _readOnly;
    private ServiceProvider _services;
    private IDataProtector _protector;
    private long _loadedAt;

    /// <summary>Uses (and creates, if missing) the key ring in <paramref name="keyRingFolder"/>.</summary>
    /// <param name="keyRingFolder">The key ring's folder.</param>
    /// <param name="readOnly">Never writes a key (the command-line tool only reads what the server wrote).</param>
    public TokenProtector(string keyRingFolder, bool readOnly = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(keyRingFolder);
        KeyRingFolder = Path.GetFullPath(keyRingFolder);
        _readOnly = readOnly;
        (_services, _protector) = Load(KeyRingFolder, readOnly);
        _loadedAt = Environment.TickCount64;
    }

    /// <summary>The key ring's folder.</summary>
    public string KeyRingFolder { get; }

    /// <summary>The stored form of <paramref name="token"/> for the portal <paramref name="memberId"/>.</summary>
    public string Protect(string memberId, string token)
    {
        ArgumentException.ThrowIfNullOrEmpty(memberId);
        ArgumentNullException.ThrowIfNull(token);
        return Current.CreateProtector(memberId).Protect(token);
    }

    /// <summary>
    /// The token stored as <paramref name="stored"/>; false when this key ring cannot decrypt it (another
    /// instance's key ring, a key ring replaced or lost, or a value not written by this class).
    /// </summary>
    public bool TryUnprotect(string memberId, string stored, out string token)
    {
        ArgumentException.ThrowIfNullOrEmpty(memberId);
        ArgumentNullException.ThrowIfNull(stored);
        if (TryUnprotect(Current, memberId, stored, out token))
        {
            return true;
        }

        // A key another instance added to a shared ring after this one loaded it: read the folder again
        // (at most every ReloadAfter, so a row that never decrypts does not reload the ring each time).
        return Reload() is { } reloaded && TryUnprotect(reloaded, memberId, stored, out token);
    }

    /// <summary>
    /// Creates the ring's first key now if it has none, so that a key ring that cannot be written
    /// (a read-only or foreign folder) stops the start rather than the first install.
    /// </summary>
    public void EnsureKey() => _ = Protect("key-check", "key-check");

    private IDataProtector Current
    {
        get
        {
            lock (_gate)
            {
                return _protector;
            }
        }
    }

    private static bool TryUnprotect(IDataProtector protector, string memberId, string stored, out string token)
    {
        try
        {
            token = protector.CreateProtector(memberId).Unprotect(stored);
            return true;
        }
        catch (CryptographicException)
        {
            token = string.Empty;
            return false;
        }
        catch (FormatException)
        {
            // Not base64url at all: a plain token or damage.
            token = string.Empty;
            return false;
        }
    }

    private IDataProtector? Reload()
    {
        ServiceProvider old;
        IDataProtector fresh;
        lock (_gate)
        {
            if (Environment.TickCount64 - _loadedAt < ReloadAfter.TotalMilliseconds)
            {
                return null;
            }

            old = _services;
            (_services, _protector) = Load(KeyRingFolder, _readOnly);
            _loadedAt = Environment.TickCount64;
            fresh = _protector;
        }

        old.Dispose();
        return fresh;
    }

    // A container of its own: the server's container stays free of Data Protection's services, and
    // the command-line tool uses the same few lines to read what the server wrote.
    private static (ServiceProvider Services, IDataProtector Protector) Load(string folder, bool readOnly)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        var dataProtection = services.AddDataProtection().SetApplicationName(ApplicationName);
        if (readOnly)
        {
            dataProtection.DisableAutomaticKeyGeneration();
        }

        services.Configure<KeyManagementOptions>(o => o.XmlRepository = new PrivateFolderXmlRepository(folder));
        var provider = services.BuildServiceProvider();
        return (provider, provider.GetRequiredService<IDataProtectionProvider>().CreateProtector(Purpose));
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        lock (_gate)
        {
            _services.Dispose();
        }
    }

    /// <summary>
    /// Data Protection's file-system key store, with each key file written 0600 under a temporary name
    /// and renamed into place (the stock one leaves the mode to the umask). Keys are not encrypted inside
    /// the file (there is no machine secret on Linux to encrypt them with); the file mode is their guard.
    /// </summary>
    private sealed class PrivateFolderXmlRepository(string folder) : IXmlRepository
    {
        // A missing folder is an empty ring (the command-line tool reads, and creates nothing); the
        // server's first key creates it.
        public IReadOnlyCollection<XElement> GetAllElements()
        {
            if (!Directory.Exists(folder))
            {
                return [];
            }

            return Directory.EnumerateFiles(folder, "*.xml")
                .Order(StringComparer.Ordinal)
                .Select(path => XElement.Load(path))
                .ToList();
        }

        public void StoreElement(XElement element, string friendlyName)
        {
            ArgumentNullException.ThrowIfNull(element);
            var name = !string.IsNullOrEmpty(friendlyName) && friendlyName.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
                ? friendlyName
                : Guid.NewGuid().ToString();
            PrivateFiles.CreateFolder(folder);
            PrivateFiles.WriteAtomically(Path.Combine(folder, name + ".xml"), stream => element.Save(stream));
        }
    }
}
