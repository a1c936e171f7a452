namespace Switchboard.Storage;

/// <summary>
/// The data directory holds portal tokens and the key ring that encrypts them: its folders are created
/// 0700 and its files 0600, so no other local user can read them. Each is created with its mode
/// (<c>mkdir</c>/<c>open</c> with the mode, not the process umask, which is process-wide and would race
/// with every other thread creating files), and what exists already is narrowed with <c>chmod</c>.
/// On Windows the folder's inherited ACL applies and nothing here changes it.
/// </summary>
public static class PrivateFiles
{
    /// <summary>rwx for the owner only.</summary>
    public const UnixFileMode FolderMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>rw for the owner only.</summary>
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>
    /// Creates <paramref name="path"/> (and missing parents) 0700. A folder that exists keeps its mode: it
    /// may be a mount point or a folder the operator made on purpose; the files inside are private anyway.
    /// </summary>
    public static void CreateFolder(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
            return;
        }

        // Each missing parent too: Directory.CreateDirectory gives the mode to the last folder only.
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            return;
        }

        if (Path.GetDirectoryName(full) is { Length: > 0 } parent)
        {
            CreateFolder(parent);
        }

        Directory.CreateDirectory(full, FolderMode);
    }

    /// <summary>Creates <paramref name="path"/> 0600 (an empty file) unless it exists; narrows it to 0600 if it does.</summary>
    public static void CreateFile(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        try
        {
            using var created = new FileStream(path, new FileStreamOptions
            {
                Mode = System.IO.FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = FileMode,
            });
        }
        catch (IOException) when (File.Exists(path))
        {
            Restrict(path);
        }
    }

    /// <summary>Narrows an existing file to 0600; nothing when it does not exist.</summary>
    public static void Restrict(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        try
        {
            if ((File.GetUnixFileMode(path) & ~FileMode) != 0)
            {
                File.SetUnixFileMode(path, FileMode);
            }
        }
        catch (FileNotFoundException)
        {
            // Gone meanwhile (a -wal removed at a checkpoint): nothing to narrow.
        }
    }

    /// <summary>Writes <paramref name="path"/> whole, created 0600 under a temporary name and renamed into place.</summary>
    public static void WriteAtomically(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        var temporary = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            var options = new FileStreamOptions { Mode = System.IO.FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = FileMode;
            }

            using (var stream = new FileStream(temporary, options))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: false);
        }
        finally
        {
            File.Delete(temporary);
        }
    }
}
