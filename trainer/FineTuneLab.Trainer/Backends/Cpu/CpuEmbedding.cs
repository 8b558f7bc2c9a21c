using FineTuneLab.Trainer.Tensors;
using static FineTuneLab.Trainer.Backends.Cpu.WorkerPoolExtensions;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>Embedding lookup (F32/BF16/F16 table) and its scatter-add gradient, done per column chunk in token order.</summary>
internal static unsafe class CpuEmbedding
{
    private const int TokensPerItem = 64;

    private struct Forward : IParallelBody
    {
        public int* Ids; public void* Table; public DType TableType; public float* Out; public int T, C, V; public bool Accumulate;
        public void Execute(int item, int thread)
        {
            var end = Math.Min(T, (item + 1) * TokensPerItem);
            for (var t = item * TokensPerItem; t < end; t++)
            {
                var id = Ids[t];
                if ((uint)id >= (uint)V)
                    throw new ArgumentOutOfRangeException("ids", $"token id {id} at position {t} is outside the embedding table's {V} rows");
                var o = Out + (long)t * C;
                var row = (long)id * C;
                for (var c = 0; c < C; c++)
                {
                    var v = TableType switch
                    {
                        DType.F32 => ((float*)Table)[row + c],
                        DType.BF16 => HalfConvert.Bf16ToFloat(((ushort*)Table)[row + c]),
                        _ => HalfConvert.F16ToFloat(((ushort*)Table)[row + c]),
                    };
                    o[c] = Accumulate ? o[c] + v : v;
                }
            }
        }
    }

    public static void EmbeddingForward(WorkerPool pool, Tensor ids, Tensor table, Tensor output, bool accumulate)
    {
        var t = (int)ids.Count;
        var c = table.Dim(1);
        var body = new Forward { Ids = ids.Ptr<int>(), Table = (void*)table.Data, TableType = table.DType, Out = output.Ptr<float>(), T = t, C = c, V = table.Dim(0), Accumulate = accumulate };
        pool.Run(Chunks(t, TokensPerItem), ref body);
    }

    private struct Backward : IParallelBody
    {
        public int* Ids; public float* DOut, DTable; public int T, C, V;
        public void Execute(int item, int thread)
        {
            var c0 = item * CpuElementwise.ColumnChunk;
            var n = Math.Min(CpuElementwise.ColumnChunk, C - c0);
            for (var t = 0; t < T; t++)
            {
                var id = Ids[t];
                if ((uint)id >= (uint)V)
                    throw new ArgumentOutOfRangeException("ids", $"token id {id} at position {t} is outside the embedding table's {V} rows");
                var d = DTable + (long)id * C + c0;
                var g = DOut + (long)t * C + c0;
                for (var i = 0; i < n; i++) d[i] += g[i];
            }
        }
    }

    public static void EmbeddingBackward(WorkerPool pool, Tensor ids, Tensor dOutput, Tensor dTable)
    {
        var t = (int)ids.Count;
        var c = dTable.Shape.Last;
        var body = new Backward { Ids = ids.Ptr<int>(), DOut = dOutput.Ptr<float>(), DTable = dTable.Ptr<float>(), T = t, C = c, V = (int)dTable.Shape.Rows };
        pool.Run(Chunks(c, CpuElementwise.ColumnChunk), ref body);
    }
}
