using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends;

/// <summary>torch.nn.utils.clip_grad_norm_ over one flat gradient region.</summary>
public static class GradientClipping
{
    /// <summary>
    /// Scales the gradients so their global L2 norm is at most <paramref name="maxNorm"/> (coefficient
    /// maxNorm / (norm + 1e-6), clamped to 1, as PyTorch) and returns the norm before clipping.
    /// </summary>
    public static float ClipByGlobalNorm(IBackend backend, Tensor gradients, float maxNorm)
    {
        var norm = (float)Math.Sqrt(backend.SumOfSquares(gradients));
        var coefficient = maxNorm / (norm + 1e-6f);
        if (coefficient < 1f)
            backend.Scale(gradients, coefficient, gradients);
        return norm;
    }
}
