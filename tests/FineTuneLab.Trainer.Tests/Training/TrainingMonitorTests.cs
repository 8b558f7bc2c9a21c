using FineTuneLab.Trainer.Training.Monitoring;

namespace FineTuneLab.Trainer.Tests.Training;

public class TrainingMonitorTests
{
    [Fact]
    public void Nan_loss_is_raised_once_per_cooldown()
    {
        var monitor = new TrainingMonitor { Cooldown = 10 };
        Assert.Equal("nan_loss", Assert.Single(monitor.Observe(1, double.NaN, 100)).Kind);
        Assert.Empty(monitor.Observe(2, double.PositiveInfinity, 100));
        Assert.Single(monitor.Observe(12, double.NaN, 100));
    }

    [Fact]
    public void A_spike_over_a_noisy_baseline_is_raised_but_noise_is_not()
    {
        var monitor = new TrainingMonitor();
        var rng = new Random(1);
        for (var step = 1; step <= 60; step++)
            Assert.Empty(monitor.Observe(step, 2.0 + 0.05 * (rng.NextDouble() - 0.5) - step * 0.001, 1000));
        var w = Assert.Single(monitor.Observe(61, 5.0, 1000));
        Assert.Equal(("loss_spike", 61L), (w.Kind, w.Step));
    }

    [Fact]
    public void A_flat_loss_is_reported_as_stalled()
    {
        var monitor = new TrainingMonitor { StallSteps = 30 };
        var kinds = Enumerable.Range(1, 100).SelectMany(s => monitor.Observe(s, 1.5, 1000)).Select(w => w.Kind).ToList();
        Assert.Contains("loss_stalled", kinds);
    }

    [Fact]
    public void A_throughput_drop_is_raised()
    {
        var monitor = new TrainingMonitor();
        for (var step = 1; step <= 20; step++) monitor.Observe(step, 3.0 - step * 0.05, 1000 + step);
        Assert.Equal("throughput_drop", Assert.Single(monitor.Observe(21, 1.9, 300)).Kind);
    }
}
