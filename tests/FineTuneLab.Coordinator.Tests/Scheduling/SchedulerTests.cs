using FineTuneLab.Coordinator.Scheduling;

namespace FineTuneLab.Coordinator.Tests.Scheduling;

public class SchedulerTests
{
    private const long GiB = 1L << 30;
    private static readonly DateTimeOffset T0 = new(2026, 11, 21, 0, 0, 0, TimeSpan.Zero);

    private static AgentCapacity Gpus(string id, double price, params (string Name, long FreeGiB)[] gpus) =>
        new(id, id, price, gpus.Select((g, i) => new FreeGpu(i, g.Name, g.FreeGiB * GiB, g.FreeGiB * GiB)).ToList(), true, false, 64 * GiB);

    private static AgentCapacity Cpu(string id, double price, bool idle = true, long freeGiB = 16) =>
        new(id, id, price, [], false, idle, freeGiB * GiB);

    private static QueuedJob Job(string id, long memGiB, int priority = 0, int minutes = 0, bool gpu = true,
        string[]? kinds = null, double? maxPrice = null) =>
        new(id, priority, T0.AddMinutes(minutes), new JobRequirements(memGiB * GiB, gpu, kinds ?? [], maxPrice));

    [Fact]
    public void The_cheapest_fitting_agent_wins()
    {
        var result = Scheduler.Plan([Job("j", 20)],
            [Gpus("pricey", 4.0, ("NVIDIA H100", 80)), Gpus("cheap", 1.1, ("NVIDIA A10G", 24)), Gpus("cheapest", 0.5, ("NVIDIA T4", 16))]);
        var p = Assert.Single(result.Placements);
        Assert.Equal(("cheap", 0, 1.1), (p.AgentId, p.GpuIndex!.Value, p.PricePerHour));
    }

    [Fact]
    public void One_job_per_gpu_and_priority_then_age_decide_who_goes_first()
    {
        var result = Scheduler.Plan(
            [Job("old-low", 10, priority: 0, minutes: 0), Job("new-high", 10, priority: 5, minutes: 9), Job("mid", 10, priority: 0, minutes: 5)],
            [Gpus("a", 1.0, ("NVIDIA L4", 24), ("NVIDIA L4", 24))]);
        Assert.Equal(["new-high", "old-low"], result.Placements.Select(p => p.JobId));
        Assert.Equal([0, 1], result.Placements.Select(p => p.GpuIndex!.Value));
        Assert.Equal("mid", Assert.Single(result.Waiting).JobId);
    }

    [Fact]
    public void Kinds_and_price_caps_are_respected_with_reasons()
    {
        var agents = new[] { Gpus("a", 2.0, ("NVIDIA A100-SXM4-80GB", 80)), Gpus("b", 0.8, ("NVIDIA L4", 24)) };
        var result = Scheduler.Plan(
            [Job("needs-a100", 10, kinds: ["A100"]), Job("too-cheap", 10, maxPrice: 0.5), Job("h100", 10, kinds: ["H100"]), Job("huge", 200)],
            agents);
        Assert.Equal(("needs-a100", "a"), (result.Placements[0].JobId, result.Placements[0].AgentId));
        var reasons = result.Waiting.ToDictionary(w => w.JobId, w => w.Reason);
        Assert.Contains("price cap of $0.5/h", reasons["too-cheap"]);
        Assert.Contains("no idle GPU of kind H100", reasons["h100"]);
        Assert.Contains("needs 200 GiB", reasons["huge"]);
        Assert.Contains("80 GiB on GPU 0 of a", reasons["huge"]); // "huge" is looked at before "needs-a100" (same priority and age: by id)
    }

    [Fact]
    public void A_job_that_names_gpu_kinds_never_runs_on_a_cpu_node()
    {
        var result = Scheduler.Plan([Job("h100-only", 1, gpu: false, kinds: ["H100"])], [Cpu("laptop", 0)]);
        Assert.Empty(result.Placements);
        Assert.Equal("no idle GPU of kind H100 (idle: none, only CPU nodes)", Assert.Single(result.Waiting).Reason);
    }

    [Fact]
    public void Cpu_agents_take_cpu_jobs_one_at_a_time()
    {
        var result = Scheduler.Plan([Job("x", 1, gpu: false), Job("y", 1, gpu: false, minutes: 1), Job("z", 1, gpu: true, minutes: 2)],
            [Cpu("laptop", 0), Cpu("busy", 0, idle: false)]);
        var p = Assert.Single(result.Placements);
        Assert.Equal(("x", "laptop", (int?)null), (p.JobId, p.AgentId, p.GpuIndex));
        Assert.Equal(["y", "z"], result.Waiting.Select(w => w.JobId));
    }

    [Fact]
    public void No_agents_says_so()
    {
        Assert.Equal("no agent is online", Assert.Single(Scheduler.Plan([Job("j", 1)], []).Waiting).Reason);
    }
}
