namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>A tokenizer.json post-processor for a single sequence: adds the model's special tokens when asked.</summary>
internal abstract class PostProcessor
{
    public abstract void AddSpecialTokens(List<int> ids, List<(int, int)>? offsets);

    protected static void Wrap(List<int> ids, List<(int, int)>? offsets, IReadOnlyList<int> before, IReadOnlyList<int> after)
    {
        ids.InsertRange(0, before);
        ids.AddRange(after);
        if (offsets is null) return;
        offsets.InsertRange(0, before.Select(_ => (0, 0)));
        offsets.AddRange(after.Select(_ => (0, 0)));
    }
}

/// <summary>TemplateProcessing's "single" template: special-token items and the sequence A.</summary>
internal sealed class TemplatePostProcessor(IReadOnlyList<int> before, IReadOnlyList<int> after) : PostProcessor
{
    public override void AddSpecialTokens(List<int> ids, List<(int, int)>? offsets) => Wrap(ids, offsets, before, after);
}

/// <summary>Post-processors that add no tokens to a single sequence (ByteLevel).</summary>
internal sealed class NoTokensPostProcessor : PostProcessor
{
    public override void AddSpecialTokens(List<int> ids, List<(int, int)>? offsets) { }
}

internal sealed class SequencePostProcessor(PostProcessor[] items) : PostProcessor
{
    public override void AddSpecialTokens(List<int> ids, List<(int, int)>? offsets)
    {
        foreach (var p in items) p.AddSpecialTokens(ids, offsets);
    }
}
