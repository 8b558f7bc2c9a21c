using System.Formats.Tar;

namespace FineTuneLab.Agent.Artifacts;

/// <summary>Folders as tar files (checkpoints and adapters up, model folders down); both written via temp + rename.</summary>
public static class TarFolder
{
    public static async Task CreateAsync(string folder, string tarFile, CancellationToken cancellationToken)
    {
        var tmp = tarFile + ".tmp";
        await TarFile.CreateFromDirectoryAsync(folder, tmp, includeBaseDirectory: false, cancellationToken);
        File.Move(tmp, tarFile, overwrite: true);
    }

    /// <summary>Unpacks once into <paramref name="folder"/>; an existing folder is a finished unpack.</summary>
    public static async Task ExtractAsync(string tarFile, string folder, CancellationToken cancellationToken)
    {
        if (Directory.Exists(folder)) return;
        var tmp = folder + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        Directory.CreateDirectory(tmp);
        await TarFile.ExtractToDirectoryAsync(tarFile, tmp, overwriteFiles: true, cancellationToken);
        try { Directory.Move(tmp, folder); }
        catch (IOException) when (Directory.Exists(folder)) { Directory.Delete(tmp, recursive: true); }
    }
}
