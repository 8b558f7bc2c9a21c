using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using FineTuneLab.EndToEnd.Tests.ControlPlane;
using FineTuneLab.TestSupport;

namespace FineTuneLab.EndToEnd.Tests.Recovery;

/// <summary>What the recovery tests share: a job on the sample tiny model and data with the real trainer, and reading its feeds.</summary>
internal static class RecoveryJob
{
    public static string Trainer => Path.Combine(RepoPaths.Scripts, "ftl-train");

    /// <summary>
    /// A LoRA spec of the sample model and chats, small enough for a loaded 2-core machine (64-token rows, one
    /// thread, so that a resumed run is bit-identical to an uninterrupted one).
    /// </summary>
    public static JsonObject Spec(int steps, int checkpointEvery, double learningRate = 2e-3, double weightDecay = 0)
    {
        var samples = Path.Combine(RepoPaths.Root, "samples");
        return new JsonObject
        {
            ["name"] = "recovery",
            ["model"] = new JsonObject { ["path"] = Path.Combine(samples, "models", "tiny") },
            ["method"] = "lora",
            ["data"] = new JsonObject { ["train"] = Path.Combine(samples, "data", "train.jsonl"), ["format"] = "chat" },
            ["max_seq_len"] = 64,
            ["micro_batch_size"] = 2,
            ["max_steps"] = steps,
            ["optimizer"] = new JsonObject { ["learning_rate"] = learningRate, ["weight_decay"] = weightDecay },
            ["scheduler"] = new JsonObject { ["type"] = "constant" },
            ["seed"] = 7,
            ["threads"] = 1,
            ["checkpoint"] = new JsonObject { ["every_steps"] = checkpointEvery, ["keep_last"] = 2 },
        };
    }

    public static JsonObject Submission(JsonObject spec, JsonObject? budget = null, JsonObject? anomalyPolicy = null)
    {
        var body = new JsonObject { ["name"] = "recovery", ["spec"] = spec, ["resources"] = new JsonObject { ["device"] = "cpu" } };
        if (budget is not null) body["budget"] = budget;
        if (anomalyPolicy is not null) body["anomaly_policy"] = anomalyPolicy;
        return body;
    }

    public static async Task<List<JsonObject>> EventsAsync(ControlPlaneCluster cluster, string jobId, string? type = null)
    {
        var page = await cluster.GetJsonAsync($"/api/jobs/{jobId}/events" + (type is null ? "" : $"?type={type}"));
        return page["events"]!.AsArray().Select(e => e!.AsObject()).ToList();
    }

    /// <summary>The event body (feeds wrap each stored event; the trainer's fields are in it).</summary>
    public static JsonObject Body(JsonObject e) => e["data"] as JsonObject ?? e;

    public static async Task<string> PostAsync(ControlPlaneCluster cluster, string path, JsonObject? body = null)
    {
        var response = await cluster.Http.PostAsync(path, body is null ? null : new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"POST {path} answered {(int)response.StatusCode}: {text}");
        return text;
    }

    /// <summary>The largest gap between consecutive step events (trainer's elapsed_s): the slowest step of the run, in seconds.</summary>
    public static double SlowestStepSeconds(IEnumerable<JsonObject> stepEvents)
    {
        var elapsed = stepEvents.Select(Body).Select(b => (Step: b["step"]!.GetValue<long>(), Elapsed: b["elapsed_s"]!.GetValue<double>()))
            .OrderBy(x => x.Step).ToList();
        var slowest = 0.0;
        for (var i = 1; i < elapsed.Count; i++)
            if (elapsed[i].Step == elapsed[i - 1].Step + 1) slowest = Math.Max(slowest, elapsed[i].Elapsed - elapsed[i - 1].Elapsed);
        return slowest;
    }

    /// <summary>Processes whose command line mentions <paramref name="needle"/> (an agent's unique data folder names the agent and its trainer).</summary>
    public static List<int> ProcessesMentioning(string needle)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == Environment.ProcessId) continue;
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (cmdline.Contains(needle, StringComparison.Ordinal)) found.Add(pid);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }

    public static void Kill(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            p.Kill();
        }
        catch (ArgumentException) { /* already gone */ }
        catch (InvalidOperationException) { }
    }
}
