using FineTuneLab.Trainer.Backends.Cuda.Native;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends.Cuda;

public sealed unsafe partial class CudaBackend
{
    public void Fill(Tensor x, float value)
    {
        CudaCheck.F32(x, "fill target");
        Launch(CudaLaunches.Fill(x, value));
    }

    public void Zero(Tensor x)
    {
        CudaCheck.Device(x, "zero target");
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuMemsetD8Async((ulong)x.Data, 0, (nuint)x.Bytes, _stream), "cuMemsetD8Async");
    }

    public void Copy(Tensor source, Tensor destination)
    {
        CudaCheck.Device(source, "copy source");
        CudaCheck.Device(destination, "copy destination");
        SameBytes(source, destination, "copy");
        if (source.Data == destination.Data) return;
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuMemcpyDtoDAsync_v2((ulong)destination.Data, (ulong)source.Data, (nuint)source.Bytes, _stream), "cuMemcpyDtoDAsync");
    }

    public void Convert(Tensor source, Tensor destination)
    {
        CudaCheck.Device(source, "convert source");
        CudaCheck.Device(destination, "convert destination");
        ConvertArguments.Check(source, destination);
        if (source.DType == destination.DType) { Copy(source, destination); return; }
        Launch(CudaLaunches.Convert(source, destination));
    }

    public void Add(Tensor a, Tensor b, Tensor y)
    {
        CudaCheck.F32(a, "add a");
        CudaCheck.Same(a, b, "add b");
        CudaCheck.Same(a, y, "add y");
        Launch(CudaLaunches.Add(a, b, y));
    }

    public void Axpy(float alpha, Tensor x, Tensor y)
    {
        CudaCheck.F32(x, "axpy x");
        CudaCheck.Same(x, y, "axpy y");
        Launch(CudaLaunches.Axpy(alpha, x, y));
    }

    public void Scale(Tensor x, float alpha, Tensor y)
    {
        CudaCheck.F32(x, "scale x");
        CudaCheck.Same(x, y, "scale y");
        Launch(CudaLaunches.Scale(x, alpha, y));
    }

    public void AddBias(Tensor y, Tensor bias)
    {
        CudaCheck.F32(y, "bias-add target");
        CudaCheck.Vector(bias, y.Shape.Last, "bias");
        Launch(CudaLaunches.AddBias(y, bias));
    }

    public void BiasGrad(Tensor dY, Tensor dBias)
    {
        CudaCheck.F32(dY, "bias-grad dY");
        CudaCheck.Vector(dBias, dY.Shape.Last, "dBias");
        Launch(CudaLaunches.BiasGrad(dY, dBias));
    }

    public double SumOfSquares(Tensor x)
    {
        CudaCheck.F32(x, "sum-of-squares input");
        using var partials = Scratch(CudaLaunches.SumOfSquaresBlocks * sizeof(float));
        Launch(CudaLaunches.SumOfSquaresPartials(x, partials.Pointer, out var blocks));
        var host = stackalloc float[CudaLaunches.SumOfSquaresBlocks];
        CudaDriver.Check(CudaDriver.cuMemcpyDtoHAsync_v2(host, (ulong)partials.Pointer, (nuint)(blocks * sizeof(float)), _stream), "cuMemcpyDtoHAsync");
        Synchronize();
        double sum = 0;
        for (var i = 0; i < blocks; i++) sum += host[i];
        return sum;
    }

    public void SwiGluForward(Tensor gate, Tensor up, Tensor y)
    {
        CudaCheck.F32(gate, "swiglu gate");
        CudaCheck.Same(gate, up, "swiglu up");
        CudaCheck.Same(gate, y, "swiglu output");
        Launch(CudaLaunches.SwiGluForward(gate, up, y));
    }

    public void SwiGluBackward(Tensor dY, Tensor gate, Tensor up, Tensor dGate, Tensor dUp)
    {
        CudaCheck.F32(dY, "swiglu dY");
        CudaCheck.Same(dY, gate, "swiglu gate");
        CudaCheck.Same(dY, up, "swiglu up");
        CudaCheck.Same(dY, dGate, "swiglu dGate");
        CudaCheck.Same(dY, dUp, "swiglu dUp");
        Launch(CudaLaunches.SwiGluBackward(dY, gate, up, dGate, dUp));
    }

    public void GeluTanhForward(Tensor x, Tensor y)
    {
        CudaCheck.F32(x, "gelu input");
        CudaCheck.Same(x, y, "gelu output");
        Launch(CudaLaunches.GeluTanhForward(x, y));
    }

    public void GeluTanhBackward(Tensor dY, Tensor x, Tensor dX)
    {
        CudaCheck.F32(dY, "gelu dY");
        CudaCheck.Same(dY, x, "gelu x");
        CudaCheck.Same(dY, dX, "gelu dX");
        Launch(CudaLaunches.GeluTanhBackward(dY, x, dX));
    }

    public void Dropout(Tensor x, float p, ulong seed, Tensor y)
    {
        CudaCheck.F32(x, "dropout input");
        CudaCheck.Same(x, y, "dropout output");
        if (p is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1)");
        if (p == 0) { Copy(x, y); return; }
        Launch(CudaLaunches.Dropout(x, p, seed, y));
    }

    public void AdamWStep(Tensor param, Tensor grad, Tensor m, Tensor v, in AdamWHyperparameters hyper)
    {
        hyper.Validate();
        CudaCheck.F32(param, "AdamW parameters");
        CudaCheck.Vector(grad, param.Count, "AdamW gradients");
        CudaCheck.Vector(m, param.Count, "AdamW first moment");
        CudaCheck.Vector(v, param.Count, "AdamW second moment");
        Launch(CudaLaunches.AdamW(param, grad, m, v, hyper));
    }

    public void DequantizeNf4(Tensor packed, Tensor absmax, int blockSize, Tensor output)
    {
        CudaCheck.Of(packed, DType.U8, "NF4 packed weights");
        CudaCheck.F32(absmax, "NF4 absmax");
        CudaCheck.Device(output, "NF4 output");
        if (output.DType is not (DType.F32 or DType.BF16)) throw new ArgumentException($"NF4 output must be F32 or BF16, got {output.DType}");
        if (blockSize <= 0) throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "NF4 block size must be positive");
        var n = output.Count;
        if (packed.Count * 2 < n) throw new ArgumentException($"NF4 packed weights hold {packed.Count * 2} codes, output needs {n}");
        if (absmax.Count < (n + blockSize - 1) / blockSize) throw new ArgumentException($"NF4 absmax has {absmax.Count} blocks, output needs {(n + blockSize - 1) / blockSize}");
        Launch(CudaLaunches.DequantizeNf4(packed, absmax, blockSize, output));
    }
}
