using FineTuneLab.Trainer.Backends.Cuda.Native;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends.Cuda;

public sealed unsafe partial class CudaBackend
{
    public void Fill(Tensor x, float value)
    {
        Launch(CudaLaunches.Fill(x, value));
    }

    public void Zero(Tensor x)
    {
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuMemsetD8Async((ulong)x.Data, 0, (nuint)x.Bytes, _stream), "cuMemsetD8Async");
    }

    public void Copy(Tensor source, Tensor destination)
    {
        if (source.Data == destination.Data) return;
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuMemcpyDtoDAsync_v2((ulong)destination.Data, (ulong)source.Data, (nuint)source.Bytes, _stream), "cuMemcpyDtoDAsync");
    }

    public void Convert(Tensor source, Tensor destination)
    {
        if (source.DType == destination.DType) { Copy(source, destination); return; }
        Launch(CudaLaunches.Convert(source, destination));
    }

    public void Add(Tensor a, Tensor b, Tensor y)
    {
        Launch(CudaLaunches.Add(a, b, y));
    }

    public void Axpy(float alpha, Tensor x, Tensor y)
    {
        Launch(CudaLaunches.Axpy(alpha, x, y));
    }

    public void Scale(Tensor x, float alpha, Tensor y)
    {
        Launch(CudaLaunches.Scale(x, alpha, y));
    }

    public void AddBias(Tensor y, Tensor bias)
    {
        Launch(CudaLaunches.AddBias(y, bias));
    }

    public void BiasGrad(Tensor dY, Tensor dBias)
    {
        Launch(CudaLaunches.BiasGrad(dY, dBias));
    }

    public double SumOfSquares(Tensor x)
    {
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
        Launch(CudaLaunches.SwiGluForward(gate, up, y));
    }

    public void SwiGluBackward(Tensor dY, Tensor gate, Tensor up, Tensor dGate, Tensor dUp)
    {
        Launch(CudaLaunches.SwiGluBackward(dY, gate, up, dGate, dUp));
    }

    public void GeGluForward(Tensor gate, Tensor up, Tensor y)
    {
        Launch(CudaLaunches.GeGluForward(gate, up, y));
    }

    public void GeGluBackward(Tensor dY, Tensor gate, Tensor up, Tensor dGate, Tensor dUp)
    {
        Launch(CudaLaunches.GeGluBackward(dY, gate, up, dGate, dUp));
    }

    public void GeluTanhForward(Tensor x, Tensor y)
    {
        Launch(CudaLaunches.GeluTanhForward(x, y));
    }

    public void GeluTanhBackward(Tensor dY, Tensor x, Tensor dX)
    {
        Launch(CudaLaunches.GeluTanhBackward(dY, x, dX));
    }

    public void Dropout(Tensor x, float p, ulong seed, Tensor y)
    {
        if (p == 0) { Copy(x, y); return; }
        Launch(CudaLaunches.Dropout(x, p, seed, y));
    }

    public void AdamWStep(Tensor param, Tensor grad, Tensor m, Tensor v, in AdamWHyperparameters hyper)
    {
        Launch(CudaLaunches.AdamW(param, grad, m, v, hyper));
    }

    public void DequantizeNf4(Tensor packed, Tensor absmax, int blockSize, Tensor output)
    {
        var n = output.Count;
        Launch(CudaLaunches.DequantizeNf4(packed, absmax, blockSize, output));
    }
}
