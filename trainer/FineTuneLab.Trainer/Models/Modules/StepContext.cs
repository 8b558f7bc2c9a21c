using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Models.Modules;

/// <summary>
/// The shape and shared inputs of the micro-batch being run: B sequences of T tokens (N = B·T rows). A forward-only
/// context (incremental decoding) has no <see cref="BackwardScratch"/>.
/// </summary>
public sealed class StepContext(IBackend backend, BackwardScratch? scratch)
{
    public IBackend Backend { get; } = backend;
    public BackwardScratch Scratch => scratch ?? throw new InvalidOperationException("a forward-only step context has no backward scratch");
    public int Batch { get; set; }
    public int Seq { get; set; }
    public int Tokens => Batch * Seq;
    /// <summary>I32 [N]: position of each token within its sequence.</summary>
    public Tensor Positions { get; set; }
    public Tensor RopeCos { get; set; }
    public Tensor RopeSin { get; set; }
    /// <summary>The local (sliding-window) layers' own tables when their RoPE base differs (Gemma 3), else empty.</summary>
    public Tensor RopeCosLocal { get; set; }
    public Tensor RopeSinLocal { get; set; }
    public ulong DropoutSeed { get; set; }
    /// <summary>LoRA dropout applies only when training (backward follows); evaluation runs the adapters undropped.</summary>
    public bool DropoutActive { get; set; } = true;
    /// <summary>I32 [B, T] segment ids of packed sequences (attention stays within a segment), or an empty tensor.</summary>
    public Tensor SegmentIds { get; set; }

    public Tensor Rows(Tensor t) => t.Slice(0, Tokens);

    /// <summary>A flat scratch tensor seen as [N, cols].</summary>
    public Tensor Matrix(Tensor flat, int cols) => flat.View(0, new TensorShape(Tokens, cols));

    public ulong SeedFor(Linear l) => DropoutSeed ^ (l.SeedSalt * 0x9E3779B97F4A7C15UL);
}
