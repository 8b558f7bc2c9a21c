using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Backends.Cuda.Native;
using FineTuneLab.Trainer.Tests.TrainRun;

namespace FineTuneLab.Trainer.Tests.Cuda;

/// <summary>
/// <c>ftl-train train</c>'s device choice on a machine without an NVIDIA driver (every CI machine): cuda, from the
/// command line or the job spec, is refused with the reason and the way out, before any data is read or any output
/// written besides the event log; auto trains on the CPU and says why in the start event.
/// </summary>
public sealed class TrainDeviceTests : IDisposable
{
    private static bool DriverPresent => NvidiaLibraries.TryLoad(NvidiaLibraries.Cuda, out _, out _);
    private readonly string _folder = Directory.CreateTempSubdirectory("ftl-train-device-").FullName;

    private string WriteJob(string? device)
    {
        var train = Path.Combine(_folder, "train.jsonl");
        File.WriteAllLines(train, File.ReadLines(Path.Combine(RepoPaths.Root, "samples", "data", "train.jsonl")).Take(8));
        var job = new JsonObject
        {
            ["name"] = "device-test",
            ["model"] = new JsonObject { ["path"] = TrainRunFixture.SampleModel },
            ["method"] = "lora",
            ["lora"] = new JsonObject { ["r"] = 2, ["alpha"] = 4, ["target_modules"] = new JsonArray("q_proj", "v_proj") },
            ["data"] = new JsonObject { ["train"] = train },
            ["max_seq_len"] = 64,
            ["micro_batch_size"] = 1,
            ["max_steps"] = 1,
            ["seed"] = 3,
        };
        if (device is not null) job["device"] = device;
        var path = Path.Combine(_folder, $"job-{device ?? "default"}.json");
        File.WriteAllText(path, job.ToJsonString());
        return path;
    }

    private static async Task<(int Code, IReadOnlyList<JsonElement> Events, string StdErr)> TrainAsync(params string[] args)
    {
        using var run = TrainProcess.Start(args);
        var (code, err) = await run.WaitAsync();
        return (code, run.Events.ToList(), err);
    }

    private void AssertRefusedForNoDriver(int code, IReadOnlyList<JsonElement> events, string outDir)
    {
        Assert.Equal(2, code);
        Assert.Equal(["error", "done"], events.Select(e => e.GetProperty("type").GetString()!));
        var error = events[0];
        Assert.Equal("CUDA backend unavailable: libcuda.so.1 not found: no NVIDIA driver on this machine; run with --device cpu",
            error.GetProperty("message").GetString());
        Assert.Equal("CudaUnavailableException", error.GetProperty("exception_type").GetString());
        Assert.Equal("failed", events[1].GetProperty("reason").GetString());
        // Nothing but the event log (and the run's lock on its folder): no checkpoint, adapter or model folder was started.
        Assert.Equal([FineTuneLab.Trainer.Training.Run.OutputLock.FileName, FineTuneLab.Trainer.Training.Run.OutputLock.PidFileName, "events.jsonl"],
            Directory.EnumerateFileSystemEntries(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(2, File.ReadAllLines(Path.Combine(outDir, "events.jsonl")).Length);
    }

    [Fact]
    public async Task Device_cuda_on_the_command_line_is_refused_with_the_reason_and_no_output()
    {
        if (DriverPresent) return; // a GPU node: gpu-selftest trains there
        var outDir = Path.Combine(_folder, "out-cli");
        var (code, events, _) = await TrainAsync("--config", WriteJob(null), "--out", outDir, "--device", "cuda");
        AssertRefusedForNoDriver(code, events, outDir);
    }

    [Fact]
    public async Task Device_cuda_in_the_job_spec_is_refused_the_same_way()
    {
        if (DriverPresent) return;
        var outDir = Path.Combine(_folder, "out-spec");
        var (code, events, _) = await TrainAsync("--config", WriteJob("cuda"), "--out", outDir);
        AssertRefusedForNoDriver(code, events, outDir);
    }

    [Fact]
    public async Task Device_auto_trains_on_the_cpu_and_the_start_event_says_why()
    {
        if (DriverPresent) return;
        var outDir = Path.Combine(_folder, "out-auto");
        var (code, events, err) = await TrainAsync("--config", WriteJob("auto"), "--out", outDir, "--threads", "2");
        Assert.True(code == 0, err);
        var start = events[0];
        Assert.Equal("start", start.GetProperty("type").GetString());
        Assert.Equal("cpu", start.GetProperty("device").GetString());
        Assert.Equal(2, start.GetProperty("threads").GetInt32());
        Assert.Equal("device auto: using the CPU backend (CUDA backend unavailable: libcuda.so.1 not found: no NVIDIA driver on this machine; run with --device cpu)",
            start.GetProperty("device_note").GetString());
        var step = Assert.Single(events, e => e.GetProperty("type").GetString() == "step");
        Assert.Equal(0, step.GetProperty("memory").GetProperty("device_allocated_bytes").GetInt64());
        Assert.Equal("completed", events[^1].GetProperty("reason").GetString());
        Assert.True(File.Exists(Path.Combine(outDir, "adapter", "adapter_model.safetensors")));

        // --device cpu overrides a spec that says cuda, and names no fallback.
        var cpuOut = Path.Combine(_folder, "out-cpu");
        (code, events, err) = await TrainAsync("--config", WriteJob("cuda"), "--out", cpuOut, "--threads", "2", "--device", "cpu");
        Assert.True(code == 0, err);
        Assert.Equal("cpu", events[0].GetProperty("device").GetString());
        Assert.False(events[0].TryGetProperty("device_note", out _));
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
