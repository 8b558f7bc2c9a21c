using FineTuneLab.Trainer.Tensors;
using static FineTuneLab.Trainer.Backends.Cpu.WorkerPoolExtensions;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>bitsandbytes NF4 dequantization.</summary>
internal static unsafe class CpuQuantized
{
    /// <summary>The 16 NF4 code values (bitsandbytes' normal-float 4-bit table).</summary>
    public static ReadOnlySpan<float> Nf4Table =>
    [
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
        -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
        0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
    ];

    private struct Nf4 : IParallelBody
    {
        public byte* Packed; public float* Absmax; public void* Out; public bool Bf16; public long N; public int BlockSize;
        public void Execute(int item, int thread)
        {
            var table = Nf4Table;
            var s = (long)item * ElementChunk;
            var e = Math.Min(N, s + ElementChunk);
            for (var i = s; i < e; i++)
            {
                var b = Packed[i >> 1];
                var code = (i & 1) == 0 ? b >> 4 : b & 0xF;
                var v = table[code] * Absmax[i / BlockSize];
                if (Bf16) ((ushort*)Out)[i] = HalfConvert.FloatToBf16(v);
                else ((float*)Out)[i] = v;
            }
        }
    }

    public static void DequantizeNf4(WorkerPool pool, Tensor packed, Tensor absmax, int blockSize, Tensor output)
    {
        var n = output.Count;
        var body = new Nf4 { Packed = (byte*)packed.Data, Absmax = absmax.Ptr<float>(), Out = (void*)output.Data, Bf16 = output.DType == DType.BF16, N = n, BlockSize = blockSize };
        pool.Run(Chunks(n, ElementChunk), ref body);
    }
}
