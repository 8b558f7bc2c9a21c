using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.TestSupport;

namespace FineTuneLab.EndToEnd.Tests.ControlPlane;

/// <summary>
/// A rogue agent (python grpcio, scripts/grpc-interop/rogue_agent.py) with the join token against a job a real
/// ftl-agent holds: it cannot take the holder's id, and nothing it sends or uploads for the job is stored; the job
/// runs to the end as if the rogue had never been there.
/// </summary>
public sealed class RogueAgentTests
{
    private static readonly string Script = Path.Combine(RepoPaths.Scripts, "grpc-interop", "rogue_agent.py");

    [Fact]
    public async Task A_join_token_holder_cannot_change_a_job_another_agent_holds()
    {
        await using var cluster = new ControlPlaneCluster();
        await cluster.StartCoordinatorAsync();
        await cluster.StartAgentAsync("holder");
        var holderId = (await cluster.GetJsonAsync("/api/agents")).AsArray().Single(a => a!["name"]!.GetValue<string>() == "holder")!["id"]!.GetValue<string>();
        var (model, data) = await cluster.UploadSampleInputsAsync();
        const int steps = 55;
        var job = await cluster.SubmitAsync(ControlPlaneCluster.Job("victim", model, data, steps, 10));
        // Attack while the holder runs it, once its first checkpoint is stored.
        await ControlPlaneCluster.WaitUntilAsync(async () => (await cluster.GetJsonAsync($"/api/jobs/{job}/checkpoints")).AsArray().Count > 0,
            TimeSpan.FromMinutes(2), cluster.Logs);

        var during = await RogueAsync(cluster, job, holderId, "running");
        Assert.Equal("PERMISSION_DENIED", during.GetProperty("register_as_victim").GetString());
        Assert.Contains(holderId, during.GetProperty("register_as_victim_details").GetString());
        Assert.Equal("PERMISSION_DENIED", during.GetProperty("register_as_victim_guessed_token").GetString());
        var rogue = during.GetProperty("agent_id").GetString()!;
        Assert.NotEqual(holderId, rogue);
        Assert.Equal(6, during.GetProperty("acked_seq").GetInt32()); // refused items are acked: the agent does not resend them forever
        foreach (var upload in new[] { "adapter", "checkpoint" })
        {
            Assert.Equal("PERMISSION_DENIED", during.GetProperty(upload).GetProperty("code").GetString());
            Assert.Contains(job, during.GetProperty(upload).GetProperty("details").GetString());
            Assert.Contains(rogue, during.GetProperty(upload).GetProperty("details").GetString());
        }

        // The holder's run is untouched: it ends succeeded (not the rogue's "failed"), every step once, its own checkpoints and adapter.
        var done = await cluster.WaitForStateAsync(job, "succeeded", TimeSpan.FromMinutes(2));
        Assert.Equal(steps, done["progress"]!["step"]!.GetValue<int>());
        var rows = (await cluster.Http.GetStringAsync($"/api/jobs/{job}/metrics?format=csv")).TrimEnd('\n').Split('\n').Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(Enumerable.Range(1, steps).Select(i => i.ToString()), rows.Select(r => r[0]));
        Assert.DoesNotContain(rows, r => r[2].StartsWith("999", StringComparison.Ordinal));
        var logs = await cluster.Http.GetStringAsync($"/api/jobs/{job}/logs");
        Assert.DoesNotContain("rogue", logs);
        var checkpoints = (await cluster.GetJsonAsync($"/api/jobs/{job}/checkpoints")).AsArray();
        Assert.Equal([10L, 20L, 30L, 40L, 50L], checkpoints.Select(c => c!["step"]!.GetValue<long>()));
        var first = await cluster.Http.GetByteArrayAsync($"/api/jobs/{job}/checkpoints/10");
        Assert.Equal(checkpoints[0]!["sha256"]!.GetValue<string>(), Convert.ToHexStringLower(SHA256.HashData(first)));
        Assert.NotEqual(during.GetProperty("checkpoint").GetProperty("sha256").GetString(), checkpoints[0]!["sha256"]!.GetValue<string>());
        var adapter = done["adapter_sha256"]!.GetValue<string>();
        Assert.Equal(adapter, Convert.ToHexStringLower(SHA256.HashData(await cluster.Http.GetByteArrayAsync($"/api/jobs/{job}/adapter"))));
        Assert.NotEqual(during.GetProperty("adapter").GetProperty("sha256").GetString(), adapter);

        // A finished job's adapter cannot be replaced either.
        var after = await RogueAsync(cluster, job, holderId, "finished");
        Assert.Equal("PERMISSION_DENIED", after.GetProperty("adapter").GetProperty("code").GetString());
        Assert.Equal(adapter, (await cluster.GetJsonAsync($"/api/jobs/{job}"))["adapter_sha256"]!.GetValue<string>());

        // Each refused item is counted; the rogue's idle point (no job) was taken.
        var metrics = await cluster.Http.GetStringAsync("/metrics");
        foreach (var (kind, n) in new[] { ("event", 1), ("log", 1), ("state_report", 1), ("telemetry", 2), ("upload", 2) })
            Assert.Contains($"ftl_agent_refused_total{{agent=\"{rogue}\",kind=\"{kind}\"}} {n}\n", metrics);
        var stored = await cluster.QueryStoreAsync($"SELECT COUNT(*) FROM telemetry WHERE agent_id = '{rogue}' AND job_id IS NULL");
        Assert.Equal(1, stored[0]![0]!.GetValue<int>());
        var victimRows = await cluster.QueryStoreAsync($"SELECT COUNT(*) FROM events WHERE job_id = '{job}' AND agent_id = '{rogue}'");
        Assert.Equal(0, victimRows[0]![0]!.GetValue<int>());
        Assert.Contains("refused", cluster.Logs());
    }

    private static async Task<JsonElement> RogueAsync(ControlPlaneCluster cluster, string job, string victimAgent, string phase)
    {
        var result = await ExternalProcess.RunAsync(ExternalProcess.DebianPython,
            [Script, $"127.0.0.1:{cluster.GrpcPort}", ControlPlaneCluster.JoinToken, job, victimAgent, phase], timeout: TimeSpan.FromMinutes(2));
        result.EnsureSuccess($"rogue_agent.py {phase}");
        return JsonDocument.Parse(result.StdOut).RootElement.Clone();
    }
}
