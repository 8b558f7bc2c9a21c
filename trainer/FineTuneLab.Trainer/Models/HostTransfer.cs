using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Models;

/// <summary>Moves fp32 host values into backend tensors of any float dtype, and back (load and save time only).</summary>
internal static class HostTransfer
{
    public static void Write(IBackend be, Tensor destination, ReadOnlySpan<float> values)
    {
        if (values.Length != destination.Count)
            throw new ArgumentException($"{values.Length} values for a tensor of {destination.Count} elements {destination.Shape}");
        if (be.Location == MemoryLocation.Host)
        {
            WriteHost(destination, values);
            return;
        }
        using var staging = new NativeBuffer(destination.Bytes);
        var host = staging.AsTensor(destination.DType, destination.Shape);
        WriteHost(host, values);
        be.Upload(host, destination);
    }

    public static void WriteInts(IBackend be, Tensor destination, ReadOnlySpan<int> values, Tensor hostStaging)
    {
        if (be.Location == MemoryLocation.Host)
        {
            values.CopyTo(destination.AsInt32());
            return;
        }
        var host = hostStaging.View(0, destination.Shape);
        values.CopyTo(host.AsInt32());
        be.Upload(host, destination);
    }

    private static void WriteHost(Tensor t, ReadOnlySpan<float> values)
    {
        switch (t.DType)
        {
            case DType.F32: values.CopyTo(t.AsFloat()); break;
            case DType.BF16: HalfConvert.FloatToBf16(values, t.AsHalfBits()); break;
            case DType.F16: HalfConvert.FloatToF16(values, t.AsHalfBits()); break;
            default: throw new ArgumentException($"cannot write float values into a {t.DType} tensor");
        }
    }

    public static float[] Read(IBackend be, Tensor source)
    {
        var result = new float[source.Count];
        if (be.Location != MemoryLocation.Host)
        {
            using var staging = new NativeBuffer(source.Bytes);
            var host = staging.AsTensor(source.DType, source.Shape);
            be.Download(source, host);
            ReadHost(host, result);
        }
        else ReadHost(source, result);
        return result;
    }

    private static void ReadHost(Tensor t, Span<float> result)
    {
        switch (t.DType)
        {
            case DType.F32: t.AsFloat().CopyTo(result); break;
            case DType.BF16: HalfConvert.Bf16ToFloat(t.AsHalfBits(), result); break;
            case DType.F16: HalfConvert.F16ToFloat(t.AsHalfBits(), result); break;
            default: throw new ArgumentException($"cannot read a {t.DType} tensor as floats");
        }
    }
}
