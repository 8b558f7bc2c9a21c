using System.Formats.Tar;

namespace FineTuneLab.Cli.Submit;

/// <summary>
/// A model folder as the <c>.tar</c> the coordinator stores (<c>kind=model</c>): entries in ordinal order, fixed modes,
/// owner and time, so the same files always give the same bytes and so the same SHA-256, which is what lets a second
/// submit find the model already uploaded.
/// </summary>
public static class FolderTar
{
    private static readonly DateTimeOffset FixedTime = DateTimeOffset.UnixEpoch;

    public static async Task WriteAsync(string folder, string tarPath, CancellationToken cancellationToken)
    {
        await using var output = new FileStream(tarPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        await using var writer = new TarWriter(output, TarEntryFormat.Ustar, leaveOpen: false);
        await AddFolderAsync(writer, folder, "", cancellationToken);
    }

    private static async Task AddFolderAsync(TarWriter writer, string folder, string prefix, CancellationToken cancellationToken)
    {
        foreach (var path in Directory.EnumerateFileSystemEntries(folder).Order(StringComparer.Ordinal))
        {
            var name = prefix + Path.GetFileName(path);
            if (Directory.Exists(path))
            {
                await writer.WriteEntryAsync(Entry(TarEntryType.Directory, name + "/", 0b111_101_101), cancellationToken);
                await AddFolderAsync(writer, path, name + "/", cancellationToken);
                continue;
            }
            await using var data = File.OpenRead(path); // a symlink is followed: the tar holds the file's bytes
            var entry = Entry(TarEntryType.RegularFile, name, 0b110_100_100);
            entry.DataStream = data;
            await writer.WriteEntryAsync(entry, cancellationToken);
        }
    }

    private static UstarTarEntry Entry(TarEntryType type, string name, int mode) => new(type, name)
    {
        Mode = (UnixFileMode)mode, ModificationTime = FixedTime, Uid = 0, Gid = 0, UserName = "", GroupName = "",
    };
}
