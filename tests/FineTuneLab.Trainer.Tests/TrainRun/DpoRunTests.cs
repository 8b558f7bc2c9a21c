using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.TestSupport;

namespace FineTuneLab.Trainer.Tests.TrainRun;

/// <summary>
/// Method dpo through the real ftl-train process on the sample preference pairs and the sample model: the run
/// completes, every step and eval event carries the DPO measures, the preference accuracy on the training pairs
/// (evaluated as the validation set) rises from the reference's 0 (rewards tie before training) well above chance with
/// the DPO loss below log 2, and a run resumed from a checkpoint writes the same adapter bit for bit.
/// </summary>
[Collection(TrainRunCollection.Name)]
public sealed class DpoRunTests(TrainRunFixture fixture, Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly string[] Measures = ["reward_margin", "accuracy", "chosen_reward", "rejected_reward"];

    [Fact]
    public async Task Dpo_run_reports_preference_measures_learns_the_training_pairs_and_resumes_exactly()
    {
        var pairs = Path.Combine(RepoPaths.Root, "samples", "data", "preferences.train.jsonl");
        var job = Path.Combine(fixture.Folder, "dpo.json");
        File.WriteAllText(job, new JsonObject
        {
            ["model"] = new JsonObject { ["path"] = TrainRunFixture.SampleModel },
            ["method"] = "dpo",
            ["dpo"] = new JsonObject { ["beta"] = 0.1 },
            ["lora"] = new JsonObject { ["r"] = 8, ["alpha"] = 16, ["dropout"] = 0.0 },
            ["data"] = new JsonObject { ["train"] = pairs, ["validation"] = pairs, ["format"] = "preference" },
            ["max_seq_len"] = 128,
            ["micro_batch_size"] = 4,
            ["max_steps"] = 100,
            ["optimizer"] = new JsonObject { ["learning_rate"] = 1e-3, ["weight_decay"] = 0.0 },
            ["scheduler"] = new JsonObject { ["type"] = "constant" },
            ["seed"] = 5,
            ["eval"] = new JsonObject { ["every_steps"] = 0 },
            ["checkpoint"] = new JsonObject { ["every_steps"] = 80 },
        }.ToJsonString());

        var straight = Path.Combine(fixture.Folder, "dpo-straight");
        using (var run = TrainProcess.Start("--config", job, "--out", straight, "--threads", "2"))
        {
            var (code, err) = await run.WaitAsync();
            Assert.True(code == 0, $"exit {code}:\n{err}");
            var steps = run.Events.Where(e => TrainProcess.IsType(e, "step")).ToList();
            Assert.Equal(100, steps.Count);
            foreach (var s in steps)
                foreach (var m in Measures)
                    Assert.True(double.IsFinite(s.GetProperty("dpo").GetProperty(m).GetDouble()), $"step {s.GetProperty("step")}: dpo.{m}");
            // step 1 runs with the adapter's B = 0: the policy is the reference, rewards tie, loss is log 2
            Assert.Equal(Math.Log(2), steps[0].GetProperty("loss").GetDouble(), 6);
            Assert.Equal(0, steps[0].GetProperty("dpo").GetProperty("accuracy").GetDouble());

            var eval = Assert.Single(run.Events, e => TrainProcess.IsType(e, "eval"));
            var accuracy = eval.GetProperty("dpo").GetProperty("accuracy").GetDouble();
            var loss = eval.GetProperty("eval_loss").GetDouble();
            output.WriteLine($"training pairs: accuracy 0 -> {accuracy:F3}, DPO loss {Math.Log(2):F4} -> {loss:F4}");
            Assert.Equal(168, eval.GetProperty("dpo").GetProperty("pairs").GetInt32());
            Assert.True(accuracy >= 0.75, $"training-pair preference accuracy after 100 DPO steps: {accuracy:F3}");
            Assert.True(loss < Math.Log(2), $"training-pair DPO loss after 100 steps: {loss:F4}");
            Assert.True(eval.GetProperty("dpo").GetProperty("reward_margin").GetDouble() > 0);
            var done = Assert.Single(run.Events, e => TrainProcess.IsType(e, "done"));
            Assert.Equal("completed", done.GetProperty("reason").GetString());
        }

        var resumed = Path.Combine(fixture.Folder, "dpo-resumed");
        using (var run = TrainProcess.Start("--config", job, "--out", resumed, "--threads", "2", "--resume", Path.Combine(straight, "checkpoints", "80")))
        {
            var (code, err) = await run.WaitAsync();
            Assert.True(code == 0, $"exit {code}:\n{err}");
            Assert.Equal(Enumerable.Range(81, 20).Select(i => (long)i), TrainProcess.Losses(run.Events).Keys.Order());
        }
        Assert.Equal(File.ReadAllBytes(Path.Combine(straight, "adapter", "adapter_model.safetensors")),
            File.ReadAllBytes(Path.Combine(resumed, "adapter", "adapter_model.safetensors")));
    }
}
