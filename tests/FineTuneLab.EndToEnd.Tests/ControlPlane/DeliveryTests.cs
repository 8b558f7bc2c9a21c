using System.Text.Json.Nodes;

namespace FineTuneLab.EndToEnd.Tests.ControlPlane;

/// <summary>
/// Nothing an agent sends is lost or stored twice: across a coordinator restart in the middle of a run, and across a
/// network cut (the agent's outbox replays what was not acknowledged).
/// </summary>
public sealed class DeliveryTests
{
    [Fact]
    public async Task A_coordinator_restarted_mid_run_loses_no_telemetry_and_the_job_finishes()
    {
        await using var cluster = new ControlPlaneCluster();
        await cluster.StartCoordinatorAsync();
        await cluster.StartAgentAsync("a1");
        var (model, data) = await cluster.UploadSampleInputsAsync();
        var id = await cluster.SubmitAsync(ControlPlaneCluster.Job("restart", model, data, 60, 10));
        await ControlPlaneCluster.WaitUntilAsync(async () => (await cluster.GetJsonAsync($"/api/jobs/{id}"))["progress"]?["step"]?.GetValue<int>() >= 8,
            TimeSpan.FromMinutes(1), cluster.Logs);

        await cluster.StopCoordinatorAsync();
        await Task.Delay(TimeSpan.FromSeconds(2)); // the trainer runs on; the agent's outbox holds what it produces
        await cluster.StartCoordinatorAsync();

        var done = await cluster.WaitForStateAsync(id, "succeeded", TimeSpan.FromMinutes(2));
        Assert.True(done["restarts"]!.GetValue<int>() == 0, $"the agent was taken for lost:\n{cluster.Logs()}");
        await AssertCompleteAsync(cluster, id, 60);
    }

    [Fact]
    public async Task After_a_network_cut_the_outbox_replays_and_the_job_finishes()
    {
        await using var cluster = new ControlPlaneCluster();
        await cluster.StartCoordinatorAsync();
        await using var proxy = new TcpCutProxy(cluster.GrpcPort);
        await cluster.StartAgentAsync("a1", coordinatorUrl: $"http://127.0.0.1:{proxy.Port}");
        var (model, data) = await cluster.UploadSampleInputsAsync();
        var id = await cluster.SubmitAsync(ControlPlaneCluster.Job("cut", model, data, 60, 10));
        await ControlPlaneCluster.WaitUntilAsync(async () => (await cluster.GetJsonAsync($"/api/jobs/{id}"))["progress"]?["step"]?.GetValue<int>() >= 8,
            TimeSpan.FromMinutes(1), cluster.Logs);

        proxy.Cut();
        var stepBefore = (await cluster.GetJsonAsync($"/api/jobs/{id}"))["progress"]!["step"]!.GetValue<int>();
        await Task.Delay(TimeSpan.FromSeconds(3));
        // Nothing arrives while the network is down.
        Assert.True((await cluster.GetJsonAsync($"/api/jobs/{id}"))["progress"]!["step"]!.GetValue<int>() <= stepBefore + 1);
        proxy.Restore();

        await cluster.WaitForStateAsync(id, "succeeded", TimeSpan.FromMinutes(2));
        await AssertCompleteAsync(cluster, id, 60);
    }

    /// <summary>Every trainer step arrived exactly once, and the agent's sequence numbers are stored without gap or duplicate.</summary>
    private static async Task AssertCompleteAsync(ControlPlaneCluster cluster, string jobId, int steps)
    {
        var stepEvents = (await cluster.GetJsonAsync($"/api/jobs/{jobId}/events?type=step"))["events"]!.AsArray();
        Assert.Equal(Enumerable.Range(1, steps), stepEvents.Select(e => e!["data"]!["step"]!.GetValue<int>()));
        var trainerSeqs = (await cluster.GetJsonAsync($"/api/jobs/{jobId}/events"))["events"]!.AsArray()
            // Trainer events carry the trainer's seq; state changes and the coordinator's own events (assigned, ...) do not.
            .Where(e => e!["data"]!["seq"] is not null).Select(e => e!["data"]!["seq"]!.GetValue<int>()).ToList();
        Assert.Equal(Enumerable.Range(1, trainerSeqs.Count), trainerSeqs);

        var audit = await cluster.QueryStoreAsync("""
            SELECT COUNT(*), COUNT(DISTINCT seq), MIN(seq), MAX(seq),
                   (SELECT persisted_seq FROM agents WHERE id = s.agent_id)
            FROM (SELECT agent_id, seq FROM telemetry UNION ALL SELECT agent_id, seq FROM events WHERE agent_id <> '' UNION ALL SELECT agent_id, seq FROM logs) s
            GROUP BY agent_id
            """);
        var row = Assert.Single(audit)!.AsArray().Select(v => v!.GetValue<long>()).ToArray();
        Assert.True(row[0] == row[1], $"duplicate seqs: {row[0]} rows, {row[1]} distinct");
        Assert.Equal(1, row[2]);
        Assert.True(row[3] == row[0], $"gaps: {row[0]} seqs stored, highest {row[3]}");
        Assert.True(row[4] >= row[3] - 0, $"persisted_seq {row[4]} below the highest stored {row[3]}");
    }
}
