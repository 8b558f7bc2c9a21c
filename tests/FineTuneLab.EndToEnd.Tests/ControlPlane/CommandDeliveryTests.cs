using System.Net;
using System.Text.Json.Nodes;

namespace FineTuneLab.EndToEnd.Tests.ControlPlane;

/// <summary>
/// A user's pause / stop issued while the job's agent is cut off is stored, answered 202, and carried out once the
/// agent reconnects; the agent acks each command, after which it is no longer re-sent.
/// </summary>
public sealed class CommandDeliveryTests
{
    [Fact]
    public async Task Commands_issued_while_the_agent_is_cut_off_are_delivered_when_it_reconnects()
    {
        await using var cluster = new ControlPlaneCluster();
        await cluster.StartCoordinatorAsync();
        await using var proxy = new TcpCutProxy(cluster.GrpcPort);
        await cluster.StartAgentAsync("a1", coordinatorUrl: $"http://127.0.0.1:{proxy.Port}");
        var (model, data) = await cluster.UploadSampleInputsAsync();
        var id = await cluster.SubmitAsync(ControlPlaneCluster.Job("commands", model, data, 2000, 10));
        await ControlPlaneCluster.WaitUntilAsync(async () => (await cluster.GetJsonAsync($"/api/jobs/{id}"))["progress"]?["step"]?.GetValue<int>() >= 3,
            TimeSpan.FromMinutes(2), cluster.Logs);

        await CutAsync(cluster, proxy);
        Assert.Equal(HttpStatusCode.Accepted, (await cluster.Http.PostAsync($"/api/jobs/{id}/pause", null)).StatusCode);
        Assert.Equal("running", (await cluster.GetJsonAsync($"/api/jobs/{id}"))["state"]!.GetValue<string>());
        Assert.Equal("pause:pending", await CommandsAsync(cluster));
        proxy.Restore();

        await cluster.WaitForStateAsync(id, "paused", TimeSpan.FromMinutes(2));
        await ControlPlaneCluster.WaitUntilAsync(async () => await CommandsAsync(cluster) == "pause:acked", TimeSpan.FromMinutes(1),
            () => $"the pause was not acked\n{cluster.Logs()}");

        await CutAsync(cluster, proxy);
        Assert.Equal(HttpStatusCode.Accepted, (await cluster.Http.PostAsync($"/api/jobs/{id}/stop", null)).StatusCode);
        Assert.Equal("stopping", (await cluster.GetJsonAsync($"/api/jobs/{id}"))["state"]!.GetValue<string>());
        proxy.Restore();

        var stopped = await cluster.WaitForStateAsync(id, "stopped", TimeSpan.FromMinutes(2));
        Assert.Equal("user", stopped["stop_reason"]!.GetValue<string>());
        Assert.True(stopped["restarts"]!.GetValue<int>() == 0, $"the job was re-queued instead:\n{cluster.Logs()}");
        await ControlPlaneCluster.WaitUntilAsync(async () => await CommandsAsync(cluster) == "pause:acked,stop:acked", TimeSpan.FromMinutes(1),
            () => $"the stop was not acked\n{cluster.Logs()}");
        // Each command reached the trainer once: one pause, then the stop's checkpoint-and-exit.
        // The agent's reports are stored as `state` events (or `state_report` when they moved nothing) with by: agent.
        var reported = (await cluster.GetJsonAsync($"/api/jobs/{id}/events"))["events"]!.AsArray()
            .Where(e => e!["type"]!.GetValue<string>() is "state" or "state_report" && e["data"]?["by"]?.GetValue<string>() == "agent")
            .Select(e => e!["data"]!["to"]?.GetValue<string>()).ToList();
        Assert.Equal(1, reported.Count(s => s == "paused"));
        Assert.Equal(1, reported.Count(s => s == "stopped"));
    }

    /// <summary>Cuts the network and waits until the coordinator has seen the agent's session end.</summary>
    private static async Task CutAsync(ControlPlaneCluster cluster, TcpCutProxy proxy)
    {
        proxy.Cut();
        await ControlPlaneCluster.WaitUntilAsync(async () => (await cluster.GetJsonAsync("/api/agents")).AsArray().All(a => a!["state"]!.GetValue<string>() != "online"),
            TimeSpan.FromSeconds(30), () => $"the coordinator still sees the agent online\n{cluster.Logs()}");
    }

    private static async Task<string> CommandsAsync(ControlPlaneCluster cluster) =>
        string.Join(",", (await cluster.QueryStoreAsync("SELECT kind, acked_at IS NOT NULL FROM agent_commands ORDER BY id"))
            .Select(r => $"{r![0]!.GetValue<string>()}:{(r[1]!.GetValue<long>() == 1 ? "acked" : "pending")}"));
}
