using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Anomalies;

namespace FineTuneLab.Coordinator.Tests.Anomalies;

public class AnomalyRulesTests
{
    [Fact]
    public void A_gpu_that_mostly_waits_is_input_bound_once_enough_samples_are_in()
    {
        Assert.Null(AnomalyDetector.InputBound(Enumerable.Repeat(10.0, AnomalyDetector.InputBoundMinSamples - 1).ToList(), 5));
        var a = AnomalyDetector.InputBound(Enumerable.Repeat(20.0, 40).Concat(Enumerable.Repeat(90.0, 10)).ToList(), 120);
        Assert.NotNull(a);
        Assert.Equal(AnomalyKinds.GpuInputBound, a.Kind);
        Assert.Equal(120, a.Step);
        Assert.Contains("34%", a.Message);
        Assert.Contains("threads", a.Message);
        Assert.Contains("micro_batch_size", a.Message);
        Assert.Null(AnomalyDetector.InputBound(Enumerable.Repeat(85.0, 60).ToList(), 120));
    }

    [Fact]
    public void Memory_near_the_limit_names_the_figures_and_what_to_lower()
    {
        const double gib = 1L << 30;
        Assert.Null(AnomalyDetector.MemoryNearLimit(70 * gib, 80 * gib, 10));
        var a = AnomalyDetector.MemoryNearLimit(78 * gib, 80 * gib, 10);
        Assert.NotNull(a);
        Assert.Contains("78.0 of 80.0 GiB", a.Message);
        Assert.Contains("micro_batch_size", a.Message);
        Assert.Null(AnomalyDetector.MemoryNearLimit(1, 0, 10));
    }

    [Fact]
    public void Overfitting_is_eval_loss_rising_twice_while_train_loss_falls()
    {
        var train = Enumerable.Range(1, 400).Select(s => ((long)s, 2.0 - s / 400.0)).ToList();
        var rising = new List<(long, double)> { (100, 1.50), (200, 1.40), (300, 1.45), (400, 1.52) };
        var a = AnomalyDetector.Overfitting(rising, train);
        Assert.NotNull(a);
        Assert.Equal(400, a.Step);
        Assert.Contains("step 200", a.Message);

        // Eval loss rising once is noise; rising with the train loss is divergence, not overfitting.
        Assert.Null(AnomalyDetector.Overfitting([(100, 1.5), (200, 1.4), (300, 1.3), (400, 1.35)], train));
        var trainRising = Enumerable.Range(1, 400).Select(s => ((long)s, 1.0 + s / 400.0)).ToList();
        Assert.Null(AnomalyDetector.Overfitting(rising, trainRising));
    }

    [Fact]
    public void A_jobs_policy_wins_over_the_coordinator_default_and_unlisted_kinds_warn()
    {
        var defaults = AnomalyPolicy.ParseOption("nan_loss=stop, gpu_memory_near_limit=pause", "--anomaly-policy");
        var problems = new List<(string, string)>();
        var own = AnomalyPolicy.ParseJson(JsonNode.Parse("""{"nan_loss": "pause", "overfitting": "fail"}"""), "$.anomaly_policy", problems);
        Assert.Empty(problems);
        var policy = own.Over(defaults);
        Assert.Equal(AnomalyAction.Pause, policy.ActionFor("nan_loss"));
        Assert.Equal(AnomalyAction.Fail, policy.ActionFor("overfitting"));
        Assert.Equal(AnomalyAction.Pause, policy.ActionFor("gpu_memory_near_limit"));
        Assert.Equal(AnomalyAction.Warn, policy.ActionFor("loss_spike"));
        Assert.Equal(AnomalyAction.Stop, AnomalyPolicy.ParseOption("*=stop", "x").Over(defaults).ActionFor("gpu_memory_near_limit"));
        Assert.Equal("nan_loss=stop,gpu_memory_near_limit=pause".Split(',').Order(), defaults.ToOptionText().Split(',').Order());
    }

    [Fact]
    public void Unknown_kinds_and_actions_are_named_with_their_place()
    {
        var problems = new List<(string Path, string Message)>();
        AnomalyPolicy.ParseJson(JsonNode.Parse("""{"nan_los": "pause", "loss_spike": "explode", "loss_stalled": 3}"""), "$.anomaly_policy", problems);
        Assert.Equal(["$.anomaly_policy.loss_spike", "$.anomaly_policy.loss_stalled", "$.anomaly_policy.nan_los"], problems.Select(p => p.Path).Order());
        Assert.Contains(problems, p => p.Message.Contains("unknown anomaly kind 'nan_los'"));
        Assert.Contains("must be an object", Assert.Single(Problems("[1]")).Message);
        Assert.Contains("not kind=action", Assert.Throws<ArgumentException>(() => AnomalyPolicy.ParseOption("nan_loss", "--anomaly-policy")).Message);
        Assert.Contains("--anomaly-policy nan_loss", Assert.Throws<ArgumentException>(() => AnomalyPolicy.ParseOption("nan_loss=panic", "--anomaly-policy")).Message);
    }

    private static List<(string Path, string Message)> Problems(string json)
    {
        var problems = new List<(string, string)>();
        AnomalyPolicy.ParseJson(JsonNode.Parse(json), "$.anomaly_policy", problems);
        return problems;
    }
}
