using System.Text.RegularExpressions;

namespace FineTuneLab.Trainer.Export.Gguf;

/// <summary>
/// The ggml type of each tensor for a quantization. f32/f16/bf16/q8_0 as convert_hf_to_gguf.py picks them: 1-D
/// tensors, norms, rope factors and learned position embeddings stay f32; matrices take the requested type, and a
/// q8_0 matrix whose rows are not a multiple of 32 falls back to f16 (the converter's QuantError fallback).
/// q4_k_m as llama.cpp's llama-quantize decides it (llama-quant.cpp, llama_tensor_get_type_impl for
/// LLAMA_FTYPE_MOSTLY_Q4_K_M, no importance matrix): q4_K by default; the output head — or the token embeddings
/// when they are tied to it — q6_K (q8_0 when its rows are not a multiple of 256); attn_v and ffn_down q6_K in the
/// layers use_more_bits picks (the first and last eighth, and every third between); then the shape fallback
/// (q4_K → q5_0, q6_K → q8_0 when rows are not a multiple of 256, f16 when not even of 32).
/// </summary>
public sealed partial class GgufTensorTypes(GgufQuant quant, int layers, bool hasOutput)
{
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
            _ => Q4KM(name, dims),
        };
        if (dims[0] % wanted.BlockSize() == 0) return wanted;
        var fallback = wanted switch { GgmlType.Q4_K => GgmlType.Q5_0, GgmlType.Q6_K => GgmlType.Q8_0, _ => GgmlType.F16 };
        return dims[0] % fallback.BlockSize() == 0 ? fallback : GgmlType.F16;
    }

    private GgmlType Q4KM(string name, long[] dims)
    {
        if (name == "output.weight" || (!hasOutput && name == "token_embd.weight"))
            return dims[0] % 256 != 0 ? GgmlType.Q8_0 : GgmlType.Q6_K;
        if (name.Contains("attn_qkv.weight", StringComparison.Ordinal))
            throw new NotSupportedException($"--quant q4_k_m: llama.cpp stores a fused '{name}' as q5_K, which this exporter does not write; export f16 and run llama-quantize");
        bool attnV = name.Contains("attn_v.weight", StringComparison.Ordinal);
        if (attnV && layers == 80)
            throw new NotSupportedException("--quant q4_k_m: llama.cpp raises a 70B model's attn_v to q5_K, which this exporter does not write; export f16 and run llama-quantize");
        if (attnV || name.Contains("ffn_down", StringComparison.Ordinal))
        {
            // llama.cpp counts these tensors in layer order; our names carry the layer
            var m = Block().Match(name);
            int layer = m.Success ? int.Parse(m.Groups[1].Value) : 0;
            if (UseMoreBits(layer, layers)) return GgmlType.Q6_K;
        }
        return GgmlType.Q4_K;
    }

    /// <summary>llama.cpp's use_more_bits: the first and last eighth of the layers, and every third layer between.</summary>
    public static bool UseMoreBits(int layer, int layers) => layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;

    [GeneratedRegex(@"^blk\.(\d+)\.")]
    private static partial Regex Block();
}
