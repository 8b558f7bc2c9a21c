using System.Threading.Channels;
using FineTuneLab.Agent.Artifacts;
using FineTuneLab.Agent.Session;
using Grpc.Core;
using LogLevel = FineTuneLab.Shared.Protos.Agent.V1.LogLevel;

namespace FineTuneLab.Agent.Jobs;

/// <summary>
/// Uploads each checkpoint the trainer announces, as a tar, as soon as it is announced. A failed upload is retried
/// (the coordinator may be unreachable) until it succeeds or a newer checkpoint supersedes it; the last one (the one a
/// stop wrote) is retried until the coordinator is back, so a resume finds it.
/// </summary>
public sealed class CheckpointUploader(string jobId, string outDir, ArtifactClient artifacts, Outgoing outgoing)
{
    private static readonly TimeSpan RetryMax = TimeSpan.FromSeconds(5);
    private readonly Channel<(long Step, string Path)> _announced = Channel.CreateUnbounded<(long, string)>();

    public void Announce(long step, string path) => _announced.Writer.TryWrite((step, path));

    /// <summary>No more checkpoints come (the trainer exited): <see cref="RunAsync"/> ends after the queued ones.</summary>
    public void Complete() => _announced.Writer.TryComplete();

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await foreach (var (step, announced) in _announced.Reader.ReadAllAsync(cancellationToken))
        {
            var wait = TimeSpan.FromMilliseconds(250);
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var folder = Path.IsPathRooted(announced) ? announced : Path.Combine(outDir, announced);
                    var tar = Path.Combine(Path.GetDirectoryName(outDir)!, $"checkpoint-{step}.tar");
                    if (attempt == 1 || !File.Exists(tar)) await TarFolder.CreateAsync(folder, tar, cancellationToken);
                    var sha = await artifacts.UploadAsync(tar, $"{jobId}-checkpoint-{step}", jobId, $"checkpoint-{step}.tar", "checkpoint", cancellationToken);
                    File.Delete(tar);
                    outgoing.Log(jobId, LogLevel.Info, "agent", $"checkpoint {step} uploaded (sha256 {sha})");
                    break;
                }
                catch (Exception e) when (e is IOException or InvalidDataException or RpcException or UnauthorizedAccessException)
                {
                    if (attempt == 1) outgoing.Log(jobId, LogLevel.Warning, "agent", $"checkpoint {step} upload failed: {e.Message}; retrying until it is uploaded or a newer one supersedes it");
                    if (_announced.Reader.Count > 0 || e is DirectoryNotFoundException) break;
                    await Task.Delay(wait, cancellationToken);
                    wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, RetryMax.Ticks));
                }
            }
        }
    }
}
