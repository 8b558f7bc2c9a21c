using System.Buffers.Binary;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FineTuneLab.TestSupport;

namespace FineTuneLab.EndToEnd.Tests.ControlPlane;

/// <summary>
/// A job's training package reproduces its adapter: run the real trainer under an agent, download the package, fetch
/// the inputs it references, run the exact command its README gives from the package's folder, and compare the
/// adapter tensor by tensor with the job's (bit for bit: same seed, same device, same thread count).
/// </summary>
public sealed partial class PackageReproductionTests
{
    [FactRequiringFile("samples/jobs/tiny-lora.json")]
    public async Task The_training_package_reproduces_the_adapter_with_ftl_train()
    {
        await ControlPlaneCluster.BuildRealTrainerAsync();
        await using var cluster = new ControlPlaneCluster(Path.Combine(RepoPaths.Scripts, "ftl-train"));
        await cluster.StartCoordinatorAsync();
        await cluster.StartAgentAsync("cpu");

        // The sample job, short, with its model and data as uploaded artifacts (what a package can only reference).
        var samples = Path.Combine(RepoPaths.Root, "samples");
        var modelTar = Path.Combine(cluster.Dir, "tiny.tar");
        await TarFile.CreateFromDirectoryAsync(Path.Combine(samples, "models", "tiny"), modelTar, includeBaseDirectory: false);
        var model = await cluster.UploadAsync("tiny.tar", "model", await File.ReadAllBytesAsync(modelTar));
        var train = await cluster.UploadAsync("train.jsonl", "dataset", await File.ReadAllBytesAsync(Path.Combine(samples, "data", "train.jsonl")));
        var test = await cluster.UploadAsync("test.jsonl", "dataset", await File.ReadAllBytesAsync(Path.Combine(samples, "data", "test.jsonl")));
        var spec = (JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(samples, "jobs", "tiny-lora.json")),
            documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }) as JsonObject)!;
        spec["model"]!["path"] = "artifact:" + model;
        spec["data"]!["train"] = "artifact:" + train;
        spec["data"]!["validation"] = "artifact:" + test;
        spec.Remove("epochs");
        spec["max_steps"] = 4;
        spec["eval"] = new JsonObject { ["every_steps"] = 2 };
        spec["checkpoint"] = new JsonObject { ["every_steps"] = 2, ["keep_last"] = 1 };
        var id = await cluster.SubmitAsync(new JsonObject { ["name"] = "package", ["spec"] = spec, ["resources"] = new JsonObject { ["device"] = "cpu" } });
        await cluster.WaitForStateAsync(id, "succeeded", TimeSpan.FromMinutes(10));
        var jobAdapter = await TensorsOfTarAsync(await cluster.Http.GetByteArrayAsync($"/api/jobs/{id}/adapter"));

        var package = Directory.CreateDirectory(Path.Combine(cluster.Dir, "package")).FullName;
        ZipFile.ExtractToDirectory(new MemoryStream(await cluster.Http.GetByteArrayAsync($"/api/jobs/{id}/package")), package);
        var readme = await File.ReadAllTextAsync(Path.Combine(package, "README.md"));
        // Inputs too large to carry are referenced: fetch each by its hash and unpack it where the README says.
        foreach (Match m in ReferencedArtifact().Matches(readme))
        {
            var folder = Path.Combine(package, m.Groups["folder"].Value);
            await TarFile.ExtractToDirectoryAsync(new MemoryStream(await cluster.Http.GetByteArrayAsync($"/api/artifacts/{m.Groups["sha"].Value}")),
                Directory.CreateDirectory(folder).FullName, overwriteFiles: false);
        }
        Assert.True(Directory.Exists(Path.Combine(package, "model", "tiny")), readme);
        var command = CommandLine().Match(readme);
        Assert.True(command.Success, readme);
        var args = command.Groups["args"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries);

        var run = await ExternalProcess.RunAsync(Path.Combine(RepoPaths.Scripts, "ftl-train"), args, workingDirectory: package, timeout: TimeSpan.FromMinutes(10));
        run.EnsureSuccess("the package's ftl-train command");
        var reproduced = TensorsOf(await File.ReadAllBytesAsync(Path.Combine(package, "out", "adapter", "adapter_model.safetensors")));

        Assert.NotEmpty(jobAdapter);
        Assert.Equal(jobAdapter.Keys.Order(), reproduced.Keys.Order());
        foreach (var (name, tensor) in jobAdapter)
        {
            Assert.Equal(tensor.Header, reproduced[name].Header);
            Assert.True(tensor.Bytes.AsSpan().SequenceEqual(reproduced[name].Bytes), $"tensor {name} differs from the job's adapter");
        }
    }

    [GeneratedRegex(@"`(?<folder>[^`]+)`: unpack artifact sha256 (?<sha>[0-9a-f]{64})")]
    private static partial Regex ReferencedArtifact();

    [GeneratedRegex(@"```\s*\n\s*ftl-train (?<args>[^\n`]+)\n")]
    private static partial Regex CommandLine();

    private sealed record Tensor(string Header, byte[] Bytes);

    private static async Task<Dictionary<string, Tensor>> TensorsOfTarAsync(byte[] tar)
    {
        await using var reader = new TarReader(new MemoryStream(tar));
        while (await reader.GetNextEntryAsync() is { } e)
        {
            if (Path.GetFileName(e.Name) != "adapter_model.safetensors" || e.DataStream is null) continue;
            var bytes = new MemoryStream();
            await e.DataStream.CopyToAsync(bytes);
            return TensorsOf(bytes.ToArray());
        }
        throw new InvalidDataException("the job's adapter.tar holds no adapter_model.safetensors");
    }

    /// <summary>Each tensor of a safetensors file: its header entry (dtype and shape) and its raw bytes.</summary>
    private static Dictionary<string, Tensor> TensorsOf(byte[] file)
    {
        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        var header = JsonNode.Parse(file.AsSpan(8, headerLength))!.AsObject();
        var data = 8 + headerLength;
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, entry) in header)
        {
            if (name == "__metadata__") continue;
            var offsets = entry!["data_offsets"]!.AsArray().Select(o => o!.GetValue<long>()).ToArray();
            tensors[name] = new Tensor($"{entry["dtype"]} {entry["shape"]!.ToJsonString()}", file[(int)(data + offsets[0])..(int)(data + offsets[1])]);
        }
        return tensors;
    }
}
