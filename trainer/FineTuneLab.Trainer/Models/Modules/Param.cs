using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Models.Modules;

/// <summary>A named weight and, when it is trained, its gradient (an empty tensor for frozen weights).</summary>
public readonly record struct Param(string Name, Tensor Value, Tensor Grad)
{
    /// <summary>The NF4 storage of a frozen matrix held quantized (QLoRA); then <see cref="Value"/> is its packed codes.</summary>
    public Backends.Nf4Matrix Nf4 { get; init; }
    public bool IsNf4 => Nf4.IsPresent;
    public bool Trainable => !Grad.IsEmpty;
    public bool Present => !Value.IsEmpty;
}
