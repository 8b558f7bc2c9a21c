using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Models.Modules;

/// <summary>A named weight and, when it is trained, its gradient (an empty tensor for frozen weights).</summary>
public readonly record struct Param(string Name, Tensor Value, Tensor Grad)
{
    public bool Trainable => !Grad.IsEmpty;
    public bool Present => !Value.IsEmpty;
}
