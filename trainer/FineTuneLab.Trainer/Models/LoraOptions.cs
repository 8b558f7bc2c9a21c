namespace FineTuneLab.Trainer.Models;

/// <summary>
/// LoRA as PEFT defines it: y = W x + (B A dropout(x)) · scale, scale = alpha / r (alpha / sqrt(r) with rsLoRA).
/// A starts Kaiming-uniform (a = sqrt(5), nn.Linear's default: U(-1/sqrt(in), 1/sqrt(in))), B starts at zero.
/// </summary>
public sealed record LoraOptions(int Rank, double Alpha, IReadOnlyList<string> TargetModules, float Dropout = 0f, bool UseRsLora = false)
{
    public float Scale => (float)(UseRsLora ? Alpha / Math.Sqrt(Rank) : Alpha / Rank);

    public static readonly IReadOnlyList<string> LlamaAllLinear = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    /// <summary>
    /// The modules a job's target list names in <paramref name="family"/>: Llama's full list (the job default) means
    /// every linear layer whatever the family calls them (<see cref="AllLinearOf"/>); any other list is taken as given.
    /// </summary>
    public static IReadOnlyList<string> ResolveTargets(IReadOnlyList<string> requested, ModelFamily family) =>
        requested.SequenceEqual(LlamaAllLinear) ? AllLinearOf(family) : requested;

    /// <summary>Every linear layer of a family by the module names PEFT targets: GPT-2's Conv1D names, Phi-3's fused projections, else Llama's.</summary>
    public static IReadOnlyList<string> AllLinearOf(ModelFamily family) => family switch
    {
        ModelFamily.Gpt2 => ["c_attn", "c_proj", "c_fc"],
        ModelFamily.Phi3 => ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
        _ => LlamaAllLinear,
    };

    public void Validate()
    {
        if (Rank <= 0) throw new ArgumentOutOfRangeException(nameof(Rank), Rank, "LoRA rank must be positive");
        if (!(Alpha > 0)) throw new ArgumentOutOfRangeException(nameof(Alpha), Alpha, "LoRA alpha must be positive");
        if (Dropout is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(Dropout), Dropout, "LoRA dropout must be in [0, 1)");
        if (TargetModules.Count == 0) throw new ArgumentException("LoRA needs at least one target module", nameof(TargetModules));
    }

    /// <summary>PEFT's matching: a target names a module by its last path component or by a dotted suffix of its path; "all-linear" takes every linear layer.</summary>
    public bool Targets(string modulePath) =>
        TargetModules.Any(t => t == "all-linear" || modulePath == t || modulePath.EndsWith("." + t, StringComparison.Ordinal));
}
