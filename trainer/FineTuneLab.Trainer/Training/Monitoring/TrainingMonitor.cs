using FineTuneLab.Trainer.Events;

namespace FineTuneLab.Trainer.Training.Monitoring;

/// <summary>
/// Watches the loss and throughput of each step and raises the warnings a person should see: a non-finite loss,
/// a loss spike against the recent baseline, a loss that stopped improving, a throughput drop. Each kind is
/// raised again only after <see cref="Cooldown"/> steps, so a bad patch is one warning rather than a flood.
/// </summary>
public sealed class TrainingMonitor
{
    public int Window { get; init; } = 50;
    public int Cooldown { get; init; } = 50;
    /// <summary>A spike is a loss this many standard deviations above the window's mean (and 20% above it).</summary>
    public double SpikeSigmas { get; init; } = 4.0;
    /// <summary>Steps without a 1% improvement of the best smoothed loss before "stalled" is raised.</summary>
    public int StallSteps { get; init; } = 200;
    /// <summary>Throughput below this fraction of the window's median is a drop.</summary>
    public double ThroughputDropFraction { get; init; } = 0.5;

    private readonly Queue<double> _losses = new();
    private readonly Queue<double> _throughputs = new();
    private readonly Dictionary<string, long> _lastRaised = new();
    private double _ema = double.NaN;
    private double _bestEma = double.PositiveInfinity;
    private long _bestStep;

    public IReadOnlyList<WarningEvent> Observe(long step, double loss, double tokensPerSecond)
    {
        var warnings = new List<WarningEvent>();
        if (!double.IsFinite(loss))
        {
            Raise(warnings, "nan_loss", step, $"loss is {loss} at step {step}: lower the learning rate, add warmup or gradient clipping, or check the data");
            return warnings;
        }

        if (_losses.Count >= Math.Min(Window, 10))
        {
            var mean = _losses.Average();
            var std = Math.Sqrt(_losses.Sum(x => (x - mean) * (x - mean)) / _losses.Count);
            if (loss > mean + SpikeSigmas * Math.Max(std, 1e-6) && loss > 1.2 * mean)
                Raise(warnings, "loss_spike", step, $"loss spiked to {loss:G4} at step {step} (recent mean {mean:G4}, sd {std:G3})");
        }
        Push(_losses, loss);

        _ema = double.IsNaN(_ema) ? loss : 0.9 * _ema + 0.1 * loss;
        if (_ema < _bestEma * 0.99) { _bestEma = _ema; _bestStep = step; }
        else if (step - _bestStep >= StallSteps)
        {
            Raise(warnings, "loss_stalled", step, $"loss has not improved for {step - _bestStep} steps (smoothed {_ema:G4}): the learning rate may be too low, or the model has learned what the data holds");
            _bestStep = step;
        }

        if (tokensPerSecond > 0)
        {
            if (_throughputs.Count >= Math.Min(Window, 10))
            {
                var median = _throughputs.Order().ElementAt(_throughputs.Count / 2);
                if (tokensPerSecond < ThroughputDropFraction * median)
                    Raise(warnings, "throughput_drop", step, $"throughput fell to {tokensPerSecond:F0} tokens/s at step {step} (recent median {median:F0}): another process may be competing for the device");
            }
            Push(_throughputs, tokensPerSecond);
        }
        return warnings;
    }

    private void Push(Queue<double> queue, double value)
    {
        queue.Enqueue(value);
        if (queue.Count > Window) queue.Dequeue();
    }

    private void Raise(List<WarningEvent> warnings, string kind, long step, string message)
    {
        if (_lastRaised.TryGetValue(kind, out var last) && step - last < Cooldown) return;
        _lastRaised[kind] = step;
        warnings.Add(new WarningEvent(kind, message, step));
    }
}
