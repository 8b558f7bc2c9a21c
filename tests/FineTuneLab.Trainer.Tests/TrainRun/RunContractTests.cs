using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.Trainer.Training.Checkpoints;

namespace FineTuneLab.Trainer.Tests.TrainRun;

/// <summary>The process contract around a run: stop requests, refusing bad checkpoints, specs and data (trainer/README.md).</summary>
[Collection(TrainRunCollection.Name)]
public sealed class RunContractTests(TrainRunFixture fixture)
{
    [Theory]
    [InlineData("TERM")]
    [InlineData("stdin")]
    public async Task A_stop_request_checkpoints_emits_done_stopped_and_exits_0(string how)
    {
        var output = Path.Combine(fixture.Folder, "stop-" + how);
        var job = fixture.WriteJob(Path.Combine(fixture.Folder, "long.json"), 500);
        using var run = TrainProcess.Start("--config", job, "--out", output, "--threads", "2");
        Assert.NotNull(await run.ReadUntilAsync(e => TrainProcess.IsType(e, "step") && e.GetProperty("step").GetInt64() == 1));
        if (how == "TERM") run.Signal("TERM");
        else await run.WriteStdinAsync("stop");
        var (code, err) = await run.WaitAsync();
        Assert.True(code == 0, $"exit {code}:\n{err}");

        var done = run.Events[^1];
        Assert.Equal("done", done.GetProperty("type").GetString());
        Assert.Equal("stopped", done.GetProperty("reason").GetString());
        var step = done.GetProperty("step").GetInt64();
        Assert.True(step is >= 1 and < 500);
        var checkpoint = run.Events.Last(e => TrainProcess.IsType(e, "checkpoint"));
        Assert.Equal(step, checkpoint.GetProperty("step").GetInt64());
        var info = CheckpointStore.Verify(checkpoint.GetProperty("path").GetString()!);
        Assert.Equal(step, info.Step);
    }

    [Theory]
    [InlineData("flip", "optimizer.safetensors")]
    [InlineData("flip", "adapter/adapter_model.safetensors")]
    [InlineData("delete", "run_state.json")]
    [InlineData("delete", "manifest.json")]
    public async Task Resume_refuses_a_damaged_checkpoint_naming_the_file(string damage, string file)
    {
        var output = Path.Combine(fixture.Folder, $"damaged-{damage}-{file.Replace('/', '-')}");
        CopyDirectory(Path.Combine(fixture.ReferenceOut, "checkpoints", "9"), Path.Combine(output, "checkpoints", "9"));
        var checkpoint = Path.Combine(output, "checkpoints", "9");
        var target = Path.Combine(checkpoint, file);
        if (damage == "delete") File.Delete(target);
        else
        {
            var bytes = File.ReadAllBytes(target);
            bytes[bytes.Length / 2] ^= 0x01;
            File.WriteAllBytes(target, bytes);
        }
        using var run = TrainProcess.Start("--config", fixture.Job, "--out", output, "--threads", "2", "--resume", checkpoint);
        var (code, _) = await run.WaitAsync();
        Assert.Equal(2, code);
        var error = run.Events.Single(e => TrainProcess.IsType(e, "error"));
        Assert.Contains(file, error.GetProperty("message").GetString());
        Assert.Equal("failed", run.Events[^1].GetProperty("reason").GetString());
        Assert.DoesNotContain(run.Events, e => TrainProcess.IsType(e, "step"));
    }

    [Fact]
    public async Task An_invalid_job_spec_exits_2_naming_every_field()
    {
        var job = fixture.WriteJob(Path.Combine(fixture.Folder, "invalid.json"), 5, j =>
        {
            j["lora"]!["r"] = -1;
            j["optimizer"] = new JsonObject { ["learning_rat"] = 0.1 };
        });
        using var run = TrainProcess.Start("--config", job, "--out", Path.Combine(fixture.Folder, "invalid-out"));
        var (code, err) = await run.WaitAsync();
        Assert.Equal(2, code);
        Assert.Contains("$.lora.r", err);
        Assert.Contains("$.optimizer.learning_rat", err);
        Assert.Equal("failed", run.Events[^1].GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Data_with_errors_is_refused_with_the_check_report()
    {
        var data = Path.Combine(fixture.Folder, "bad.jsonl");
        File.WriteAllLines(data,
        [
            """{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}""",
            """{"messages": [{"role": "user", "content": "hi"}, {"role": "robot", "content": "x"}]}""",
        ]);
        var job = fixture.WriteJob(Path.Combine(fixture.Folder, "bad-data.json"), 5, j =>
        {
            j["data"] = new JsonObject { ["train"] = data };
            j["eval"] = new JsonObject();
        });
        using var run = TrainProcess.Start("--config", job, "--out", Path.Combine(fixture.Folder, "bad-data-out"));
        var (code, _) = await run.WaitAsync();
        Assert.Equal(2, code);
        var message = run.Events.Single(e => TrainProcess.IsType(e, "error")).GetProperty("message").GetString()!;
        Assert.Contains("line 2", message);
        Assert.Contains("robot", message);
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
    }
}
