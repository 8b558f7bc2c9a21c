namespace FineTuneLab.Trainer.Backends;

/// <summary>Hyperparameters of one AdamW step; <see cref="Step"/> counts from 1 (PyTorch's state['step'] after the increment).</summary>
/// <remarks>Doubles, like the Python floats PyTorch's optimizer computes its bias corrections with.</remarks>
public readonly record struct AdamWHyperparameters(double LearningRate, double Beta1, double Beta2, double Eps, double WeightDecay, long Step)
{
    public void Validate()
    {
        if (Step < 1) throw new ArgumentOutOfRangeException(nameof(Step), Step, "AdamW step counts from 1");
        if (Beta1 is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(Beta1), Beta1, "beta1 must be in [0, 1)");
        if (Beta2 is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(Beta2), Beta2, "beta2 must be in [0, 1)");
        if (!(Eps >= 0)) throw new ArgumentOutOfRangeException(nameof(Eps), Eps, "eps must be >= 0");
        if (!(LearningRate >= 0)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "learning rate must be >= 0");
    }
}
