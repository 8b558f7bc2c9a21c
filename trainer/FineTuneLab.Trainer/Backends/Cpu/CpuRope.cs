using FineTuneLab.Trainer.Tensors;
using static FineTuneLab.Trainer.Backends.Cpu.WorkerPoolExtensions;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>Rotary embedding in Hugging Face's rotate_half layout; backward applies the inverse rotation.</summary>
internal static unsafe class CpuRope
{
    private const int TokensPerItem = 32;

    private struct Body : IParallelBody
    {
        public float* X, Y, Cos, Sin; public int* Pos; public int T, H, D, MaxPos; public bool Inverse;
        public void Execute(int item, int thread)
        {
            var half = D / 2;
            var end = Math.Min(T, (item + 1) * TokensPerItem);
            for (var t = item * TokensPerItem; t < end; t++)
            {
                var p = Pos[t];
                if ((uint)p >= (uint)MaxPos)
                    throw new ArgumentOutOfRangeException("positions", $"position {p} of token {t} is outside the rope table's {MaxPos} positions");
                var cos = Cos + (long)p * D;
                var sin = Sin + (long)p * D;
                for (var h = 0; h < H; h++)
                {
                    var x = X + ((long)t * H + h) * D;
                    var y = Y + ((long)t * H + h) * D;
                    for (var i = 0; i < half; i++)
                    {
                        var x1 = x[i];
                        var x2 = x[i + half];
                        if (!Inverse)
                        {
                            // y = x·cos + rotate_half(x)·sin, rotate_half(x) = (-x2, x1)
                            y[i] = x1 * cos[i] - x2 * sin[i];
                            y[i + half] = x2 * cos[i + half] + x1 * sin[i + half];
                        }
                        else
                        {
                            // transpose of the rotation above
                            y[i] = x1 * cos[i] + x2 * sin[i + half];
                            y[i + half] = x2 * cos[i + half] - x1 * sin[i];
                        }
                    }
                }
            }
        }
    }

    public static void Apply(WorkerPool pool, Tensor x, Tensor positions, Tensor cos, Tensor sin, Tensor y, bool inverse)
    {
        Check.F32(x, "rope input");
        Check.Same(x, y, "rope output");
        Check.I32(positions, "rope positions");
        Check.F32(cos, "rope cos");
        Check.F32(sin, "rope sin");
        if (x.Rank != 3) throw new ArgumentException($"rope input must be [T, H, D], got {x.Shape}");
        int t = x.Dim(0), h = x.Dim(1), d = x.Dim(2);
        if (d % 2 != 0) throw new ArgumentException($"rope head dimension {d} is odd");
        if (positions.Count != t) throw new ArgumentException($"rope positions has {positions.Count} entries, expected {t} tokens");
        if (cos.Rank != 2 || cos.Dim(1) != d || sin.Shape != cos.Shape)
            throw new ArgumentException($"rope tables cos {cos.Shape} / sin {sin.Shape} must be [maxPositions, {d}]");
        var body = new Body { X = x.Ptr<float>(), Y = y.Ptr<float>(), Cos = cos.Ptr<float>(), Sin = sin.Ptr<float>(), Pos = positions.Ptr<int>(), T = t, H = h, D = d, MaxPos = cos.Dim(0), Inverse = inverse };
        pool.Run(Chunks(t, TokensPerItem), ref body);
    }
}
