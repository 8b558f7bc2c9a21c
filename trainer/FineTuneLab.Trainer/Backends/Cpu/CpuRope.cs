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
        int t = x.Dim(0), h = x.Dim(1), d = x.Dim(2);
        var body = new Body { X = x.Ptr<float>(), Y = y.Ptr<float>(), Cos = cos.Ptr<float>(), Sin = sin.Ptr<float>(), Pos = positions.Ptr<int>(), T = t, H = h, D = d, MaxPos = cos.Dim(0), Inverse = inverse };
        pool.Run(Chunks(t, TokensPerItem), ref body);
    }
}
