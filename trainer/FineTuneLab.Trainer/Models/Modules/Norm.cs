using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Models.Modules;

/// <summary>
/// RMSNorm (Llama family; Gemma's scales by 1 + weight, <paramref name="weightOffset"/> 1) or LayerNorm (GPT-2) over the
/// last dimension; weights F32, gradients only when trained. Per-head q/k norms run it over [tokens · heads, head_dim].
/// </summary>
public sealed class Norm(NormKind kind, float eps, Param weight, Param bias, float weightOffset = 0f)
{
    public NormKind Kind { get; } = kind;
    public Param Weight { get; } = weight;
    public Param Bias { get; } = bias;

    /// <summary>y = norm(x); <paramref name="mean"/> (LayerNorm only) and <paramref name="rstd"/> [N] are saved for the backward.</summary>
    public void Forward(IBackend be, Tensor x, Tensor y, Tensor mean, Tensor rstd)
    {
        if (Kind == NormKind.RmsNorm) be.RmsNormForward(x, Weight.Value, eps, y, rstd, weightOffset);
        else be.LayerNormForward(x, Weight.Value, Bias.Value, eps, y, mean, rstd);
    }

    public void Backward(IBackend be, Tensor dY, Tensor x, Tensor mean, Tensor rstd, Tensor dX, bool accumulateDx)
    {
        if (Kind == NormKind.RmsNorm) be.RmsNormBackward(dY, x, Weight.Value, rstd, dX, Weight.Grad, accumulateDx, weightOffset);
        else be.LayerNormBackward(dY, x, Weight.Value, mean, rstd, dX, Weight.Grad, Bias.Grad, accumulateDx);
    }
}
