using System.Text.Json;
using FineTuneLab.Trainer.Training.Checkpoints;

namespace FineTuneLab.Trainer.Tests.TrainRun;

/// <summary>
/// A run killed with SIGKILL at different moments and resumed from its newest complete checkpoint ends with the same
/// adapter bytes and the same step losses as the uninterrupted reference run (same thread count).
/// </summary>
[Collection(TrainRunCollection.Name)]
public sealed class ExactResumeTests(TrainRunFixture fixture)
{
    public enum KillPoint { AfterCheckpointEvent, MidStep, DuringCheckpointWrite }

    [Theory]
    [InlineData(KillPoint.AfterCheckpointEvent)]
    [InlineData(KillPoint.MidStep)]
    [InlineData(KillPoint.DuringCheckpointWrite)]
    public async Task Killed_and_resumed_run_matches_the_uninterrupted_run_bit_for_bit(KillPoint point)
    {
        var output = Path.Combine(fixture.Folder, "killed-" + point);
        using (var run = TrainProcess.Start("--config", fixture.Job, "--out", output, "--threads", "2"))
        {
            Func<JsonElement, bool> at = point switch
            {
                KillPoint.AfterCheckpointEvent => e => TrainProcess.IsType(e, "checkpoint") && e.GetProperty("step").GetInt64() == 3,
                KillPoint.MidStep => e => TrainProcess.IsType(e, "step") && e.GetProperty("step").GetInt64() == 4,
                // step 6 is a checkpoint step: its checkpoint is being written right after the step event
                _ => e => TrainProcess.IsType(e, "step") && e.GetProperty("step").GetInt64() == 6,
            };
            Assert.NotNull(await run.ReadUntilAsync(at));
            await run.KillAsync();
        }
        Assert.False(Directory.Exists(Path.Combine(output, "adapter")));

        var newest = new CheckpointStore(Path.Combine(output, "checkpoints")).List().Last();
        Assert.True(newest.Step >= 3);
        using var resumed = TrainProcess.Start("--config", fixture.Job, "--out", output, "--threads", "2", "--resume", newest.Path);
        var (code, err) = await resumed.WaitAsync();
        Assert.True(code == 0, $"resume exited {code}:\n{err}");

        var start = resumed.Events.First();
        Assert.Equal("start", start.GetProperty("type").GetString());
        Assert.Equal(newest.Step, start.GetProperty("resumed_from_step").GetInt64());
        var done = resumed.Events.Last();
        Assert.Equal("completed", done.GetProperty("reason").GetString());

        var expected = TrainProcess.Losses(fixture.ReferenceEvents);
        var actual = TrainProcess.Losses(resumed.Events);
        Assert.Equal(Enumerable.Range((int)newest.Step + 1, TrainRunFixture.Steps - (int)newest.Step).Select(s => (long)s), actual.Keys.Order());
        foreach (var (step, loss) in actual)
            Assert.True(BitConverter.DoubleToInt64Bits(expected[step]) == BitConverter.DoubleToInt64Bits(loss), $"step {step}: loss {loss:R} != {expected[step]:R}");

        foreach (var file in new[] { "adapter_model.safetensors", "adapter_config.json" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(fixture.ReferenceOut, "adapter", file)), File.ReadAllBytes(Path.Combine(output, "adapter", file)));

        // seq continues over the kill: strictly increasing across events.jsonl's readable lines
        var seqs = File.ReadLines(Path.Combine(output, "events.jsonl"))
            .Select(l => { try { return JsonDocument.Parse(l).RootElement.GetProperty("seq").GetInt64(); } catch (JsonException) { return -1; } })
            .Where(s => s > 0).ToList();
        Assert.Equal(seqs.Order(), seqs);
        Assert.Equal(seqs.Distinct().Count(), seqs.Count);
    }

    [Fact]
    public void Reference_run_learns_and_writes_a_peft_adapter()
    {
        var losses = TrainProcess.Losses(fixture.ReferenceEvents);
        Assert.Equal(TrainRunFixture.Steps, losses.Count);
        Assert.All(losses.Values, l => Assert.True(double.IsFinite(l)));
        var evals = fixture.ReferenceEvents.Where(e => TrainProcess.IsType(e, "eval")).ToList();
        Assert.Equal(2, evals.Count); // steps 5 and 10
        Assert.True(evals[1].GetProperty("eval_loss").GetDouble() < evals[0].GetProperty("eval_loss").GetDouble() + 0.5);
        Assert.Equal("start", fixture.ReferenceEvents[0].GetProperty("type").GetString());
        Assert.Equal("done", fixture.ReferenceEvents[^1].GetProperty("type").GetString());

        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixture.ReferenceOut, "adapter", "adapter_config.json")));
        var c = config.RootElement;
        Assert.Equal("LORA", c.GetProperty("peft_type").GetString());
        Assert.Equal("CAUSAL_LM", c.GetProperty("task_type").GetString());
        Assert.Equal(4, c.GetProperty("r").GetInt32());
        Assert.Equal(8, c.GetProperty("lora_alpha").GetDouble());
        Assert.Equal("none", c.GetProperty("bias").GetString());
        Assert.False(c.GetProperty("fan_in_fan_out").GetBoolean());

        using var adapter = FineTuneLab.Trainer.Formats.SafeTensorStore.Open(Path.Combine(fixture.ReferenceOut, "adapter", "adapter_model.safetensors"));
        Assert.Contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", adapter.Names);
        Assert.Contains("base_model.model.model.layers.3.mlp.down_proj.lora_B.weight", adapter.Names);
        Assert.Equal(4 * 3 * 2, adapter.Names.Count());
        // the resumed runs cross an epoch boundary: checkpoint 3 is in epoch 0, checkpoint 9 already in epoch 1
        using var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixture.ReferenceOut, "checkpoints", "9", "run_state.json")));
        Assert.True(state.RootElement.GetProperty("data_epoch").GetInt32() >= 1);
        Assert.Equal(9, state.RootElement.GetProperty("step").GetInt64());
        // keep_last 2: checkpoints 6 and 9 remain
        Assert.Equal([6L, 9L], new CheckpointStore(Path.Combine(fixture.ReferenceOut, "checkpoints")).List().Select(c => c.Step));
    }
}
