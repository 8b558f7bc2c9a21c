namespace FineTuneLab.Trainer.Tests.TrainRun;

/// <summary>The run tests share one reference run and take turns on the cores (each process trains with 2 threads).</summary>
[CollectionDefinition(Name)]
public sealed class TrainRunCollection : ICollectionFixture<TrainRunFixture>
{
    public const string Name = "TrainRun";
}
