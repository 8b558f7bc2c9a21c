using System.Text.Json.Nodes;

namespace FineTuneLab.Cli.Tests;

/// <summary><c>ftl telemetry</c>: the node readings the dashboard charts, for the cluster's finished job and its agent.</summary>
[Collection(CliCollection.Name)]
public sealed class FtlTelemetryTests(CliCluster cli)
{
    [Fact]
    public async Task Telemetry_of_a_job_is_the_api_answer_and_its_table_has_the_host_series()
    {
        var json = await cli.Ftl.RunAsync("telemetry", cli.JobId, "--json", "--points", "10");
        Assert.True(json.ExitCode == 0, json.StdErr + json.StdOut);
        var ours = JsonNode.Parse(json.StdOut)!;
        var api = await cli.Cluster.GetJsonAsync($"/api/jobs/{cli.JobId}/telemetry?max_points=10");
        Assert.Equal(api.ToJsonString(), ours.ToJsonString());
        var cpu = ours["series"]!.AsArray().Single(s => s!["metric"]!.GetValue<string>() == "host.cpu.util")!;
        Assert.NotEmpty(cpu["points"]!.AsArray());

        var table = await cli.Ftl.RunAsync("telemetry", cli.JobId, "--metric", "host.cpu.util,trainer.rss");
        Assert.True(table.ExitCode == 0, table.StdErr);
        Assert.Contains("host.cpu.util", table.StdOut);
        Assert.Contains("trainer.rss", table.StdOut);
        Assert.DoesNotContain("host.disk.free", table.StdOut);
        Assert.Contains("%", table.StdOut);
        Assert.Contains("MiB", table.StdOut);

        var agentId = (await cli.Cluster.GetJsonAsync("/api/agents")).AsArray().Single()!["id"]!.GetValue<string>();
        var agent = await cli.Ftl.RunAsync("telemetry", "--agent", agentId, "--json");
        Assert.True(agent.ExitCode == 0, agent.StdErr);
        Assert.NotEmpty(JsonNode.Parse(agent.StdOut)!["series"]!.AsArray());

        Assert.Equal(2, (await cli.Ftl.RunAsync("telemetry")).ExitCode); // neither a job nor an agent
        Assert.Equal(2, (await cli.Ftl.RunAsync("telemetry", cli.JobId, "--agent", agentId)).ExitCode);
    }

    [Fact]
    public void A_sparkline_spans_the_bars_from_lowest_to_highest()
    {
        Assert.Equal("▁▅█", FineTuneLab.Cli.Commands.TelemetryCommand.Sparkline([0, 5, 10]));
        Assert.Equal("▁▁", FineTuneLab.Cli.Commands.TelemetryCommand.Sparkline([3, 3]));
    }
}
