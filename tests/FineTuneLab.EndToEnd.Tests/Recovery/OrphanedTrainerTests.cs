using System.Text.Json.Nodes;
using FineTuneLab.EndToEnd.Tests.ControlPlane;
using static FineTuneLab.EndToEnd.Tests.Recovery.RecoveryJob;

namespace FineTuneLab.EndToEnd.Tests.Recovery;

/// <summary>
/// The agent SIGKILLed alone, its trainer left behind: the trainer sees its stdin end (the agent held the pipe),
/// checkpoints and exits by itself, so a restarted agent never finds a second writer in the job's folder.
/// </summary>
[Collection(RealTrainerCollection.Name)]
public sealed class OrphanedTrainerTests
{
    [Fact]
    public async Task A_trainer_whose_agent_was_killed_checkpoints_and_exits_on_its_own()
    {
        await using var cluster = new ControlPlaneCluster(Trainer);
        await cluster.StartCoordinatorAsync(["--heartbeat-timeout", "30"]);
        var agent = await cluster.StartAgentAsync("orphaning");
        var id = await cluster.SubmitAsync(Submission(Spec(100_000, checkpointEvery: 1000)));
        await ControlPlaneCluster.WaitUntilAsync(async () => (await cluster.GetJsonAsync($"/api/jobs/{id}"))["progress"]?["step"]?.GetValue<long>() >= 2,
            TimeSpan.FromMinutes(3), () => $"job {id} made no steps\n{cluster.Logs()}");

        var jobDir = Path.Combine(cluster.Dir, "orphaning");
        var trainers = ProcessesMentioning(jobDir).Where(p => p != agent.Id).ToList();
        Assert.NotEmpty(trainers);
        Kill(agent.Id);
        await ControlPlaneCluster.WaitUntilAsync(() => Task.FromResult(trainers.All(p => !File.Exists($"/proc/{p}/cmdline") || File.ReadAllText($"/proc/{p}/cmdline").Length == 0)),
            TimeSpan.FromMinutes(1), () => $"the trainer ({string.Join(",", trainers)}) still runs a minute after its agent was killed\n{cluster.Logs()}");

        var events = Directory.GetFiles(jobDir, "events.jsonl", SearchOption.AllDirectories).Single();
        var last = JsonNode.Parse(File.ReadLines(events).Last())!;
        Assert.Equal("done", last["type"]!.GetValue<string>());
        Assert.Equal("stopped", last["reason"]!.GetValue<string>());
        var checkpoints = Directory.GetDirectories(Path.Combine(Path.GetDirectoryName(events)!, "checkpoints"));
        Assert.Contains(checkpoints, c => Path.GetFileName(c) == last["step"]!.GetValue<long>().ToString());
    }
}
