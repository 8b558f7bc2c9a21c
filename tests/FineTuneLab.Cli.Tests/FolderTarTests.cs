using System.Formats.Tar;
using System.Security.Cryptography;
using FineTuneLab.Cli.Submit;
using FineTuneLab.TestSupport;

namespace FineTuneLab.Cli.Tests;

/// <summary>The model folder tar: the same files give the same hash whatever their times, and it unpacks to the same files.</summary>
public sealed class FolderTarTests
{
    [Fact]
    public async Task The_same_folder_gives_the_same_bytes_and_unpacks_to_the_same_files()
    {
        var dir = Directory.CreateTempSubdirectory("ftl-tar-").FullName;
        try
        {
            var model = Path.Combine(RepoPaths.Root, "samples", "models", "tiny");
            var first = Path.Combine(dir, "a.tar");
            await FolderTar.WriteAsync(model, first, default);

            var copy = Path.Combine(dir, "copy");
            Directory.CreateDirectory(copy);
            foreach (var f in Directory.GetFiles(model))
            {
                File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
                File.SetLastWriteTimeUtc(Path.Combine(copy, Path.GetFileName(f)), DateTime.UtcNow.AddDays(-3));
            }
            var second = Path.Combine(dir, "b.tar");
            await FolderTar.WriteAsync(copy, second, default);
            Assert.Equal(SHA256.HashData(await File.ReadAllBytesAsync(first)), SHA256.HashData(await File.ReadAllBytesAsync(second)));

            // The agent unpacks with System.Formats.Tar; GNU tar must read it too.
            var unpacked = Path.Combine(dir, "unpacked");
            Directory.CreateDirectory(unpacked);
            await TarFile.ExtractToDirectoryAsync(first, unpacked, overwriteFiles: false);
            foreach (var f in Directory.GetFiles(model))
                Assert.Equal(await File.ReadAllBytesAsync(f), await File.ReadAllBytesAsync(Path.Combine(unpacked, Path.GetFileName(f))));
            var listing = await ExternalProcess.RunAsync("tar", ["-tf", first]);
            listing.EnsureSuccess("tar -tf");
            Assert.Equal(Directory.GetFiles(model).Select(Path.GetFileName).Order(StringComparer.Ordinal), listing.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
