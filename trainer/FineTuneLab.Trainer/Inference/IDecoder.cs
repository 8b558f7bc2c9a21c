namespace FineTuneLab.Trainer.Inference;

/// <summary>Produces next-token logits for a growing sequence.</summary>
public interface IDecoder : IDisposable
{
    /// <summary>Tokens in the sequence so far.</summary>
    int Length { get; }

    /// <summary>Most tokens the sequence may hold.</summary>
    int Capacity { get; }

    /// <summary>Length of each logits row.</summary>
    int VocabSize { get; }

    /// <summary>Appends ids and returns the logits after the last one (valid until the next call).</summary>
    ReadOnlySpan<float> Append(ReadOnlySpan<int> ids);

    void Reset();
}
