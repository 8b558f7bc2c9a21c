namespace FineTuneLab.Trainer.Export.Gguf;

/// <summary>The encodings a GGUF export offers (the <c>--quant</c> values), with llama.cpp's file type numbers.</summary>
public enum GgufQuant { F32, F16, BF16, Q8_0, Q4_K_M }

public static class GgufQuantNames
{
    public static readonly string[] All = ["f32", "f16", "bf16", "q8_0", "q4_k_m"];

    /// <summary>The encodings this exporter writes itself (all of them).</summary>
    public static readonly string[] Exportable = All;

    public static string Name(this GgufQuant q) => All[(int)q];

    public static GgufQuant Parse(string text, string what = "--quant")
    {
        var i = Array.IndexOf(All, text.ToLowerInvariant());
        return i >= 0 ? (GgufQuant)i : throw new ArgumentException($"{what} must be one of {string.Join(", ", All)}, not '{text}'");
    }

    /// <summary>general.file_type (llama.h's <c>enum llama_ftype</c>).</summary>
    public static int FileType(this GgufQuant q) => q switch
    {
        GgufQuant.F32 => 0, GgufQuant.F16 => 1, GgufQuant.Q8_0 => 7, GgufQuant.Q4_K_M => 15, GgufQuant.BF16 => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(q)),
    };
}
