using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.TestSupport;

namespace FineTuneLab.Trainer.Tests.TrainRun;

/// <summary>
/// Method dpo through the real ftl-train process on the sample model. The sample job (samples/jobs/tiny-dpo.json:
/// polite chosen vs rude rejected answers, the held-out pairs with new prompts and remarks unseen in training) must
/// show its held-out preference accuracy and reward margin rising in its own eval events, from the reference's tie at
/// step 0; every step and eval event carries the DPO measures; a run resumed from a checkpoint reads the reference
/// log-probabilities from the first run's cache and writes the same adapter bit for bit.
/// </summary>
[Collection(TrainRunCollection.Name)]
public sealed class DpoRunTests(TrainRunFixture fixture, Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly string[] Measures = ["reward_margin", "accuracy", "chosen_reward", "rejected_reward"];

    private static IEnumerable<string> Logs(TrainProcess run) =>
        run.Events.Where(e => TrainProcess.IsType(e, "log")).Select(e => e.GetProperty("message").GetString() ?? "");

    private static double Dpo(JsonElement e, string measure) => e.GetProperty("dpo").GetProperty(measure).GetDouble();

    [Fact]
    public async Task Sample_dpo_job_raises_held_out_preference_accuracy_and_margin()
    {
        var job = Path.Combine(RepoPaths.Root, "samples", "jobs", "tiny-dpo.json");
        var outDir = Path.Combine(fixture.Folder, "tiny-dpo");
        using var run = TrainProcess.Start("--config", job, "--out", outDir, "--threads", "2");
        var (code, err) = await run.WaitAsync();
        Assert.True(code == 0, $"exit {code}:\n{err}");

        var steps = run.Events.Where(e => TrainProcess.IsType(e, "step")).ToList();
        Assert.NotEmpty(steps);
        foreach (var s in steps)
            foreach (var m in Measures)
                Assert.True(double.IsFinite(Dpo(s, m)), $"step {s.GetProperty("step")}: dpo.{m}");

        var evals = run.Events.Where(e => TrainProcess.IsType(e, "eval")).ToList();
        foreach (var e in evals)
            output.WriteLine($"step {e.GetProperty("step").GetInt64(),3}: held-out accuracy {Dpo(e, "accuracy"):F3}, " +
                $"reward margin {Dpo(e, "reward_margin"):F4}, DPO loss {e.GetProperty("eval_loss").GetDouble():F4}");
        Assert.True(evals.Count >= 3, $"{evals.Count} eval events");
        var first = evals[0];
        var last = evals[^1];
        Assert.Equal(0, first.GetProperty("step").GetInt64());
        Assert.Equal(steps[^1].GetProperty("step").GetInt64(), last.GetProperty("step").GetInt64());
        var heldOut = first.GetProperty("dpo").GetProperty("pairs").GetInt32();
        Assert.True(heldOut >= 20, $"{heldOut} held-out pairs");
        Assert.Equal(heldOut, last.GetProperty("dpo").GetProperty("pairs").GetInt32());

        // before the first step the adapter's B is 0: the policy is the reference, so the held-out pairs tie
        Assert.True(Dpo(first, "accuracy") <= 0.55, $"held-out accuracy at step 0: {Dpo(first, "accuracy"):F3}");
        Assert.Equal(Math.Log(2), first.GetProperty("eval_loss").GetDouble(), 6);
        // after one epoch the held-out pairs are told apart (measured 1.0 from step 6 on, margin 5.3, loss 0.008)
        Assert.True(Dpo(last, "accuracy") >= 0.8, $"held-out accuracy at the end: {Dpo(last, "accuracy"):F3}");
        Assert.True(Dpo(last, "reward_margin") >= 1.0, $"held-out reward margin at the end: {Dpo(last, "reward_margin"):F4}");
        Assert.True(Dpo(last, "chosen_reward") > Dpo(last, "rejected_reward"));
        Assert.True(last.GetProperty("eval_loss").GetDouble() < 0.35, $"held-out DPO loss at the end: {last.GetProperty("eval_loss").GetDouble():F4}");
        // the margin grows along the run, not just at its end
        var middle = evals[evals.Count / 2];
        Assert.True(Dpo(middle, "reward_margin") > Dpo(first, "reward_margin") && Dpo(last, "reward_margin") > Dpo(middle, "reward_margin"),
            $"held-out margins {Dpo(first, "reward_margin"):F4}, {Dpo(middle, "reward_margin"):F4}, {Dpo(last, "reward_margin"):F4}");

        var done = Assert.Single(run.Events, e => TrainProcess.IsType(e, "done"));
        Assert.Equal("completed", done.GetProperty("reason").GetString());
        Assert.True(File.Exists(Path.Combine(outDir, "adapter", "adapter_model.safetensors")));
    }

    [Fact]
    public async Task Dpo_run_starts_at_log_2_and_resumes_exactly()
    {
        var pairs = Path.Combine(RepoPaths.Root, "samples", "data", "preferences.train.jsonl");
        var job = Path.Combine(fixture.Folder, "dpo.json");
        File.WriteAllText(job, new JsonObject
        {
            ["model"] = new JsonObject { ["path"] = TrainRunFixture.SampleModel },
            ["method"] = "dpo",
            ["dpo"] = new JsonObject { ["beta"] = 0.1 },
            ["lora"] = new JsonObject { ["r"] = 8, ["alpha"] = 16, ["dropout"] = 0.1 },
            ["data"] = new JsonObject { ["train"] = pairs, ["format"] = "preference" },
            ["max_seq_len"] = 128,
            ["micro_batch_size"] = 2,
            ["gradient_accumulation_steps"] = 2,
            ["max_steps"] = 16,
            ["optimizer"] = new JsonObject { ["learning_rate"] = 1e-3, ["weight_decay"] = 0.0 },
            ["scheduler"] = new JsonObject { ["type"] = "constant" },
            ["seed"] = 5,
            ["checkpoint"] = new JsonObject { ["every_steps"] = 10 },
        }.ToJsonString());

        var straight = Path.Combine(fixture.Folder, "dpo-straight");
        using (var run = TrainProcess.Start("--config", job, "--out", straight, "--threads", "2"))
        {
            var (code, err) = await run.WaitAsync();
            Assert.True(code == 0, $"exit {code}:\n{err}");
            var steps = run.Events.Where(e => TrainProcess.IsType(e, "step")).ToList();
            Assert.Equal(16, steps.Count);
            // step 1 runs with the adapter's B = 0: the policy is the reference, rewards tie, loss is log 2
            Assert.Equal(Math.Log(2), steps[0].GetProperty("loss").GetDouble(), 6);
            Assert.Equal(0, Dpo(steps[0], "accuracy"));
            Assert.Equal(4, steps[0].GetProperty("dpo").GetProperty("pairs").GetInt32());
            var done = Assert.Single(run.Events, e => TrainProcess.IsType(e, "done"));
            Assert.Equal("completed", done.GetProperty("reason").GetString());
            Assert.Contains(Logs(run), m => m.Contains("168 training pairs computed and saved in dpo-reference/"));
            Assert.Single(Directory.GetFiles(Path.Combine(straight, "dpo-reference")));
        }

        var resumed = Path.Combine(fixture.Folder, "dpo-resumed");
        using (var run = TrainProcess.Start("--config", job, "--out", resumed, "--threads", "2", "--resume", Path.Combine(straight, "checkpoints", "10")))
        {
            var (code, err) = await run.WaitAsync();
            Assert.True(code == 0, $"exit {code}:\n{err}");
            Assert.Equal(Enumerable.Range(11, 6).Select(i => (long)i), TrainProcess.Losses(run.Events).Keys.Order());
            // the references depend only on the base, the engine and the tokenized pairs: read from the earlier run's cache
            Assert.Contains(Logs(run), m => m.Contains("168 training pairs read from dpo-reference/"));
        }
        Assert.Equal(File.ReadAllBytes(Path.Combine(straight, "adapter", "adapter_model.safetensors")),
            File.ReadAllBytes(Path.Combine(resumed, "adapter", "adapter_model.safetensors")));
    }

    [Fact]
    public async Task Preference_data_with_identical_or_empty_sides_is_refused_naming_the_lines()
    {
        var data = Path.Combine(fixture.Folder, "bad-pairs.jsonl");
        File.WriteAllLines(data,
        [
            """{"prompt": "What is LoRA?", "chosen": "Happy to help! LoRA trains small matrices.", "rejected": "Whatever. LoRA trains small matrices."}""",
            """{"prompt": "What is QLoRA?", "chosen": "QLoRA keeps the base in NF4.", "rejected": "QLoRA keeps the base in NF4."}""",
            """{"prompt": "What is DPO?", "chosen": "", "rejected": "Figure it out yourself."}""",
        ]);
        var job = Path.Combine(fixture.Folder, "bad-pairs.json");
        File.WriteAllText(job, new JsonObject
        {
            ["model"] = new JsonObject { ["path"] = TrainRunFixture.SampleModel },
            ["method"] = "dpo",
            ["lora"] = new JsonObject { ["r"] = 4, ["alpha"] = 8 },
            ["data"] = new JsonObject { ["train"] = data, ["format"] = "preference" },
            ["max_seq_len"] = 64,
            ["max_steps"] = 2,
        }.ToJsonString());
        using var run = TrainProcess.Start("--config", job, "--out", Path.Combine(fixture.Folder, "bad-pairs-out"), "--threads", "2");
        var (code, _) = await run.WaitAsync();
        Assert.Equal(2, code);
        var message = run.Events.Single(e => TrainProcess.IsType(e, "error")).GetProperty("message").GetString()!;
        Assert.Contains("bad-pairs.jsonl", message);
        Assert.Contains("line 2: error: 'chosen' and 'rejected' are identical", message);
        Assert.Contains("line 3: error: 'chosen' is empty", message);
        Assert.DoesNotContain(run.Events, e => TrainProcess.IsType(e, "step"));
    }
}
