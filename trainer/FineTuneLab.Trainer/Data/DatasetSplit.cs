namespace FineTuneLab.Trainer.Data;

/// <summary>Which examples (indexes into a <see cref="JsonlIndex"/>) train and which validate.</summary>
public sealed record DatasetSplit(int[] Train, int[] Validation)
{
    /// <summary>
    /// A seeded random <paramref name="validationFraction"/> of the examples for validation (at least one when the
    /// fraction is positive and there are two or more examples), the rest for training; both in file order.
    /// </summary>
    public static DatasetSplit ByFraction(int count, double validationFraction, ulong seed)
    {
        if (validationFraction is < 0 or >= 1 || double.IsNaN(validationFraction))
            throw new ArgumentOutOfRangeException(nameof(validationFraction), "the validation fraction must be in [0, 1)");
        var nValidation = (int)Math.Round(count * validationFraction, MidpointRounding.AwayFromZero);
        if (validationFraction > 0 && count > 1) nValidation = Math.Clamp(nValidation, 1, count - 1);
        var permutation = DeterministicShuffle.Permutation(count, seed);
        var validation = permutation[..nValidation];
        var train = permutation[nValidation..];
        Array.Sort(validation);
        Array.Sort(train);
        return new DatasetSplit(train, validation);
    }

    /// <summary>Everything trains (the validation set is a separate file).</summary>
    public static DatasetSplit AllTrain(int count) => new(Enumerable.Range(0, count).ToArray(), []);
}
