using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Quantization;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends.Cuda.SelfTest;

/// <summary>
/// Runs IBackend ops on the same random inputs on two backends (the CPU reference and the CUDA backend) and compares
/// what comes back. Inputs are made on the host and written to both; outputs are read back as fp32.
/// </summary>
public sealed class OpComparison(IBackend reference, IBackend candidate) : IDisposable
{
    private readonly List<IMemoryBlock> _blocks = [];
    private readonly List<SelfTestRow> _rows = [];
    private ulong _seed = 12345;

    public IReadOnlyList<SelfTestRow> Rows => _rows;

    /// <summary>A tensor pair: Ref on the reference backend, Cand on the candidate, same shape and dtype.</summary>
    public readonly record struct Pair(Tensor Ref, Tensor Cand);

    public Pair Empty(DType dtype, params int[] shape)
    {
        var s = ShapeOf(shape);
        return new Pair(Alloc(reference, dtype, s), Alloc(candidate, dtype, s));
    }

    public static TensorShape ShapeOf(int[] dims) => dims.Length switch
    {
        1 => new TensorShape(dims[0]),
        2 => new TensorShape(dims[0], dims[1]),
        3 => new TensorShape(dims[0], dims[1], dims[2]),
        4 => new TensorShape(dims[0], dims[1], dims[2], dims[3]),
        _ => throw new ArgumentException($"tensors have 1 to 4 dimensions, not {dims.Length}"),
    };

    private Tensor Alloc(IBackend be, DType dtype, TensorShape shape)
    {
        var block = be.AllocateMemory(Math.Max(shape.Count * dtype.SizeOf(), 1));
        _blocks.Add(block);
        return new Tensor(block.Pointer, dtype, shape, block.Location);
    }

    public float[] RandomValues(long count, float scale)
    {
        var rng = new SplitMix64(_seed++);
        var v = new float[count];
        for (var i = 0; i < v.Length; i++) v[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return v;
    }

    public Pair Random(DType dtype, float scale, params int[] shape)
    {
        var p = Empty(dtype, shape);
        var values = RandomValues(p.Ref.Count, scale);
        HostTransfer.Write(reference, p.Ref, values);
        HostTransfer.Write(candidate, p.Cand, values);
        return p;
    }

    public Pair Positive(float low, float high, params int[] shape)
    {
        var p = Empty(DType.F32, shape);
        var values = RandomValues(p.Ref.Count, 1f);
        for (var i = 0; i < values.Length; i++) values[i] = low + (high - low) * (values[i] + 1) / 2;
        HostTransfer.Write(reference, p.Ref, values);
        HostTransfer.Write(candidate, p.Cand, values);
        return p;
    }

    public Pair Ints(int[] values, params int[] shape)
    {
        var p = Empty(DType.I32, shape);
        using var staging = new NativeBuffer(Math.Max(values.Length * 4L, 4));
        var host = staging.AsTensor(DType.I32, ShapeOf(shape));
        HostTransfer.WriteInts(reference, p.Ref, values, host);
        HostTransfer.WriteInts(candidate, p.Cand, values, host);
        return p;
    }

    public Pair Bytes(byte[] values)
    {
        var p = Empty(DType.U8, [values.Length]);
        using var staging = new NativeBuffer(values.Length);
        var host = staging.AsTensor(DType.U8, new TensorShape(values.Length));
        values.CopyTo(host.AsBytes());
        reference.Upload(host, p.Ref);
        candidate.Upload(host, p.Cand);
        return p;
    }

    /// <summary>An NF4 matrix on both backends.</summary>
    public readonly record struct Nf4Pair(Nf4Matrix Ref, Nf4Matrix Cand)
    {
        public Nf4Pair RowSlice(int start, int count) => new(Ref.RowSlice(start, count), Cand.RowSlice(start, count));
    }

    /// <summary>The quantized matrix <paramref name="q"/> [rows, cols] written to both backends.</summary>
    public Nf4Pair Nf4(Nf4Tensor q, int rows, int cols)
    {
        Nf4Matrix On(IBackend be)
        {
            var m = new Nf4Matrix(Alloc(be, DType.U8, new TensorShape(q.Packed.Length)), Alloc(be, DType.U8, new TensorShape(q.AbsmaxCodes.Length)),
                Alloc(be, DType.F32, new TensorShape(q.NestedAbsmax.Length)), Alloc(be, DType.F32, new TensorShape(q.NestedQuantMap.Length)),
                Alloc(be, DType.F32, new TensorShape(1)), q.BlockSize, q.NestedBlockSize, rows, cols);
            Nf4Weights.Write(be, m, q);
            return m;
        }
        return new Nf4Pair(On(reference), On(candidate));
    }

    /// <summary>Copies the reference's values of <paramref name="from"/> into both sides of <paramref name="to"/> (e.g. to reset an accumulator).</summary>
    public void Set(Pair to, ReadOnlySpan<float> values)
    {
        HostTransfer.Write(reference, to.Ref, values);
        HostTransfer.Write(candidate, to.Cand, values);
    }

    public SelfTestRow Compare(string op, Pair output, double tolerance)
    {
        var r = HostTransfer.Read(reference, output.Ref);
        var c = HostTransfer.Read(candidate, output.Cand);
        var row = SelfTestCompare.Row(op, output.Ref.DType.Name(), r, c, tolerance);
        _rows.Add(row);
        return row;
    }

    public SelfTestRow CompareScalars(string op, double expected, double actual, double tolerance, string dtype = "F32")
    {
        var abs = Math.Abs(expected - actual);
        if (double.IsNaN(abs)) abs = double.PositiveInfinity;
        var rel = expected != 0 ? abs / Math.Abs(expected) : abs;
        var row = new SelfTestRow(op, dtype, abs, rel, tolerance, rel <= tolerance);
        _rows.Add(row);
        return row;
    }

    /// <summary>Adds a row computed by the caller (e.g. a run-to-run reproducibility check on one backend).</summary>
    public void Add(SelfTestRow row) => _rows.Add(row);

    /// <summary>Records an op that threw on one side as a failure with the message.</summary>
    public void Failed(string op, Exception e) => _rows.Add(new SelfTestRow(op, "-", double.NaN, double.NaN, 0, false, $"{e.GetType().Name}: {e.Message}"));

    public void Dispose()
    {
        foreach (var b in _blocks) b.Dispose();
        _blocks.Clear();
    }
}
