namespace FineTuneLab.Trainer.Export.Gguf;

/// <summary>
/// The ggml type of each tensor for a quantization, as convert_hf_to_gguf.py picks it: 1-D tensors, norms, rope
/// factors and learned position embeddings stay f32; matrices take the requested type, and a quantized type whose
/// block does not divide the rows falls back to f16 (the converter's QuantError fallback).
/// </summary>
public sealed class GgufTensorTypes(GgufQuant quant, int layers)
{
    public int Layers { get; } = layers;

    public GgmlType TypeOf(string name, long[] dims)
    {
        if (dims.Length == 1 || name.EndsWith("_norm.weight", StringComparison.Ordinal) || name == "rope_freqs.weight" || name == "position_embd.weight")
            return GgmlType.F32;
        var wanted = quant switch
        {
            GgufQuant.F32 => GgmlType.F32,
            GgufQuant.F16 => GgmlType.F16,
            GgufQuant.BF16 => GgmlType.BF16,
            GgufQuant.Q8_0 => GgmlType.Q8_0,
            _ => throw new NotSupportedException($"--quant {quant.Name()} is not implemented by this exporter yet; export f16 and run llama.cpp's llama-quantize (… model-f16.gguf model-q4_k_m.gguf Q4_K_M)"),
        };
        return dims[0] % wanted.BlockSize() == 0 ? wanted : GgmlType.F16;
    }
}
