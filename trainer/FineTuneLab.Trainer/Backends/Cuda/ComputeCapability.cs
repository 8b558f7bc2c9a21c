using System.Globalization;

namespace FineTuneLab.Trainer.Backends.Cuda;

/// <summary>A GPU architecture as CUDA numbers it: 8.0 (A100), 8.6 (RTX 30xx/A10), 8.9 (L4/RTX 40xx), 9.0 (H100/H200).</summary>
public readonly record struct ComputeCapability(int Major, int Minor)
{
    /// <summary>The number NVRTC and nvrtcGetSupportedArchs use: 80 for 8.0.</summary>
    public int Number => Major * 10 + Minor;

    /// <summary>Real architecture (CUBIN): sm_80.</summary>
    public string SmName => $"sm_{Number}";

    /// <summary>Virtual architecture (PTX): compute_80.</summary>
    public string ComputeName => $"compute_{Number}";

    public override string ToString() => $"{Major}.{Minor}";

    /// <summary>Parses "8.0", "80", "sm_80" or "compute_80".</summary>
    public static ComputeCapability Parse(string text)
    {
        var t = text.Trim();
        if (t.StartsWith("sm_", StringComparison.Ordinal)) t = t[3..];
        else if (t.StartsWith("compute_", StringComparison.Ordinal)) t = t[8..];
        var dot = t.IndexOf('.');
        if (dot > 0 && int.TryParse(t[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out var major)
            && int.TryParse(t[(dot + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var minor))
            return new(major, minor);
        if (dot < 0 && t.Length >= 2 && int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            return new(number / 10, number % 10);
        throw new FormatException($"'{text}' is not a compute capability (expected e.g. 8.0, 80 or sm_80)");
    }
}
