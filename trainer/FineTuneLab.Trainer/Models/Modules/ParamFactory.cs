using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Models.Modules;

/// <summary>Where one weight comes from in a checkpoint: the keys to try, and whether it is stored transposed (GPT-2's Conv1D [in, out]).</summary>
public sealed record WeightSource(Param Param, IReadOnlyList<string> Keys, bool StoredTransposed);

/// <summary>
/// Allocates a model's parameters: frozen matrices in the engine's weight dtype, frozen vectors (norms, biases) in
/// F32, and — when trained — F32 values plus a gradient of identical layout in the gradient region, in the same order,
/// so that the trainable region and the gradient region line up element for element for the optimizer.
/// </summary>
public sealed class ParamFactory(ITensorAllocator frozen, ITensorAllocator trainable, ITensorAllocator grads, DType matrixDType, bool trainAll)
{
    public List<WeightSource> Sources { get; } = [];
    public List<Param> Trainables { get; } = [];

    public Param Matrix(string name, int rows, int cols, IReadOnlyList<string> keys, bool storedTransposed = false) =>
        Load(Make(name, new TensorShape(rows, cols), trainAll, trainAll ? DType.F32 : matrixDType), keys, storedTransposed);

    public Param Vector(string name, int n, IReadOnlyList<string> keys) =>
        Load(Make(name, new TensorShape(n), trainAll, DType.F32), keys, false);

    /// <summary>
    /// A frozen matrix held in NF4 (QLoRA): packed codes, absmax codes, nested absmax, the 8-bit map and the offset,
    /// all in the frozen region. Quantized (or copied from a bitsandbytes checkpoint) when the weights load.
    /// </summary>
    public Param Nf4Matrix(string name, int rows, int cols, IReadOnlyList<string> keys, bool storedTransposed = false)
    {
        long n = (long)rows * cols;
        if (n % 2 != 0) throw new ArgumentException($"{name}: an NF4 matrix needs an even element count, [{rows}, {cols}] has {n}");
        int bs = Quantization.Nf4.DefaultBlockSize, nbs = Quantization.Nf4.DefaultNestedBlockSize;
        int blocks = checked((int)((n + bs - 1) / bs));
        var packed = frozen.Allocate(DType.U8, new TensorShape(checked((int)(n / 2))));
        var codes = frozen.Allocate(DType.U8, new TensorShape(blocks));
        var nested = frozen.Allocate(DType.F32, new TensorShape((blocks + nbs - 1) / nbs));
        var map = frozen.Allocate(DType.F32, new TensorShape(256));
        var offset = frozen.Allocate(DType.F32, new TensorShape(1));
        var p = new Param(name, packed, default) { Nf4 = new Backends.Nf4Matrix(packed, codes, nested, map, offset, bs, nbs, rows, cols) };
        return Load(p, keys, storedTransposed);
    }

    /// <summary>A trained F32 tensor that no checkpoint provides (LoRA factors).</summary>
    public Param TrainableMatrix(string name, int rows, int cols) => Make(name, new TensorShape(rows, cols), true, DType.F32);

    /// <summary>A frozen F32 constant the model computes itself (RoPE tables).</summary>
    public Tensor Constant(TensorShape shape) => frozen.Allocate(DType.F32, shape);

    private Param Load(Param p, IReadOnlyList<string> keys, bool transposed)
    {
        Sources.Add(new WeightSource(p, keys, transposed));
        return p;
    }

    private Param Make(string name, TensorShape shape, bool train, DType dtype)
    {
        if (!train) return new Param(name, frozen.Allocate(dtype, shape), default);
        var p = new Param(name, trainable.Allocate(DType.F32, shape), grads.Allocate(DType.F32, shape));
        Trainables.Add(p);
        return p;
    }
}
