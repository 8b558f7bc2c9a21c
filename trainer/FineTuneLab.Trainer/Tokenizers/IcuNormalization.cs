using System.Runtime.InteropServices;
using System.Text;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>Unicode normalization forms through the system's ICU (libicuuc), called directly: the runtime runs with
/// InvariantGlobalization, where string.Normalize does nothing, and HF's NFC/NFKC normalizers must really normalize.</summary>
internal sealed unsafe class IcuNormalization
{
    private readonly delegate* unmanaged<IntPtr, char*, int, char*, int, int*, int> _normalize;
    private readonly delegate* unmanaged<IntPtr, int, sbyte> _hasBoundaryBefore;
    private readonly delegate* unmanaged<IntPtr, char*, int, int*, int> _spanQuickCheckYes;
    private readonly IntPtr _instance;

    private IcuNormalization(IntPtr lib, string suffix, string instanceGetter)
    {
        _normalize = (delegate* unmanaged<IntPtr, char*, int, char*, int, int*, int>)NativeLibrary.GetExport(lib, "unorm2_normalize" + suffix);
        _hasBoundaryBefore = (delegate* unmanaged<IntPtr, int, sbyte>)NativeLibrary.GetExport(lib, "unorm2_hasBoundaryBefore" + suffix);
        _spanQuickCheckYes = (delegate* unmanaged<IntPtr, char*, int, int*, int>)NativeLibrary.GetExport(lib, "unorm2_spanQuickCheckYes" + suffix);
        var get = (delegate* unmanaged<int*, IntPtr>)NativeLibrary.GetExport(lib, instanceGetter + suffix);
        var err = 0;
        _instance = get(&err);
        if (err > 0 || _instance == IntPtr.Zero) throw new InvalidOperationException($"ICU {instanceGetter} failed with error {err}");
    }

    private static readonly Lazy<(IntPtr Lib, string Suffix)?> Library = new(FindLibrary);
    private static readonly Dictionary<NormalizationForm, IcuNormalization> Instances = [];

    public static IcuNormalization Get(NormalizationForm form)
    {
        lock (Instances)
        {
            if (Instances.TryGetValue(form, out var n)) return n;
            var lib = Library.Value ?? throw new PlatformNotSupportedException(
                "Unicode normalization needs ICU (libicuuc), which was not found; install the libicu package");
            var getter = form switch
            {
                NormalizationForm.FormC => "unorm2_getNFCInstance",
                NormalizationForm.FormD => "unorm2_getNFDInstance",
                NormalizationForm.FormKC => "unorm2_getNFKCInstance",
                NormalizationForm.FormKD => "unorm2_getNFKDInstance",
                _ => throw new ArgumentOutOfRangeException(nameof(form)),
            };
            n = new IcuNormalization(lib.Lib, lib.Suffix, getter);
            Instances[form] = n;
            return n;
        }
    }

    private static (IntPtr, string)? FindLibrary()
    {
        for (var v = 90; v >= 50; v--)
        {
            if (!NativeLibrary.TryLoad($"libicuuc.so.{v}", out var lib)) continue;
            if (NativeLibrary.TryGetExport(lib, $"unorm2_normalize_{v}", out _)) return (lib, $"_{v}");
            if (NativeLibrary.TryGetExport(lib, "unorm2_normalize", out _)) return (lib, "");
        }
        foreach (var name in new[] { "libicuuc.so", "libicucore.dylib", "icuuc.dll" })
            if (NativeLibrary.TryLoad(name, out var lib) && NativeLibrary.TryGetExport(lib, "unorm2_normalize", out _))
                return (lib, "");
        return null;
    }

    /// <summary>Length of the prefix of <paramref name="s"/> that is certainly already normalized.</summary>
    public int QuickCheckPrefix(ReadOnlySpan<char> s)
    {
        fixed (char* p = s)
        {
            var err = 0;
            var n = _spanQuickCheckYes(_instance, p, s.Length, &err);
            return err > 0 ? 0 : n;
        }
    }

    /// <summary>Whether text before <paramref name="codePoint"/> never interacts with it under normalization.</summary>
    public bool HasBoundaryBefore(int codePoint) => _hasBoundaryBefore(_instance, codePoint) != 0;

    public string Normalize(ReadOnlySpan<char> s)
    {
        if (s.IsEmpty) return "";
        var capacity = s.Length * 3 + 16;
        while (true)
        {
            var buffer = new char[capacity];
            fixed (char* src = s)
            fixed (char* dst = buffer)
            {
                var err = 0;
                var n = _normalize(_instance, src, s.Length, dst, capacity, &err);
                if (err == 15 /* U_BUFFER_OVERFLOW_ERROR */) { capacity = n + 16; continue; }
                if (err > 0) throw new InvalidOperationException($"ICU unorm2_normalize failed with error {err}");
                return new string(buffer, 0, n);
            }
        }
    }
}
