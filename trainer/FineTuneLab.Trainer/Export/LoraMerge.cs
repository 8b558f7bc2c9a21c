using System.Text.Json;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Inference;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Quantization;

namespace FineTuneLab.Trainer.Export;

/// <summary>What the adapter's base weights were while it trained: the stored floats (LoRA), or NF4 (QLoRA).</summary>
public enum BaseWeights { AsStored, Nf4 }

/// <summary>
/// The one merge of a PEFT LoRA adapter into its base model, read tensor by tensor: W' = W + scale · B·A for every
/// adapted module (scale alpha/r, or alpha/sqrt(r) with rsLoRA), added transposed into GPT-2's Conv1D weights. A
/// QLoRA adapter learned its correction against the NF4-rounded base, so with <see cref="BaseWeights.Nf4"/> every
/// transformer-block linear weight is first quantized to NF4 and dequantized exactly as the engine does on load (a
/// folder already holding bitsandbytes NF4 weights is dequantized as stored); merging into the original 16-bit
/// weights instead would add the adapter to a model it never saw. Every consumer (the merged Hugging Face folder,
/// the GGUF writer) reads its tensors from here, so they all see the same weights.
/// </summary>
public sealed class LoraMerge : IDisposable
{
    /// <summary>Written beside a QLoRA run's adapter: the base weights it trained against were NF4.</summary>
    public const string BaseQuantizationFileName = "base_quantization.json";

    private readonly SafeTensorStore _store;
    private readonly SafeTensorStore? _lora;
    private readonly Dictionary<string, string> _moduleOf = new(StringComparer.Ordinal);
    private readonly HashSet<string> _nf4Stored = new(StringComparer.Ordinal);
    private readonly float _scale;

    private LoraMerge(string modelDir, string? adapterDir, BaseWeights baseWeights)
    {
        ModelDir = modelDir;
        Config = HfConfig.Load(modelDir);
        BaseWeights = baseWeights;
        _store = SafeTensorStore.Open(modelDir);
        try
        {
            foreach (var n in _store.Names)
                if (Bnb4BitFormat.IsQuantized(_store, n)) _nf4Stored.Add(n);
            if (_nf4Stored.Count > 0) BaseWeights = BaseWeights.Nf4;
            if (BaseWeights == BaseWeights.Nf4 && Config.Family == ModelFamily.Gpt2)
                throw new InvalidDataException($"{modelDir}: merging into NF4 base weights is supported for Llama-style blocks, not GPT-2's Conv1D layers");
            Names = _store.Names.Where(n => !IsQuantState(n)).OrderBy(n => n, StringComparer.Ordinal).ToList();
            if (adapterDir is null) return;
            var adapter = PeftAdapterConfig.Load(adapterDir);
            _scale = adapter.Scale;
            var weights = Path.Combine(adapterDir, PeftAdapterConfig.WeightsFileName);
            if (!File.Exists(weights)) throw new FileNotFoundException($"{weights}: the adapter folder has no {PeftAdapterConfig.WeightsFileName}", weights);
            _lora = SafeTensorStore.Open(weights);
            foreach (var module in InferenceModel.AdaptedModules(_lora))
            {
                var key = BaseKey(module)
                    ?? throw new InvalidDataException($"{_store.Location}: the adapter adapts '{module}', but the base model has no '{module}.weight'");
                _moduleOf.Add(key, module);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>
    /// The base model with the adapter (or none: the base alone) to be merged. <paramref name="baseWeights"/> null
    /// reads it from the adapter folder (<see cref="BaseQuantizationFileName"/>, written by QLoRA runs).
    /// </summary>
    public static LoraMerge Open(string modelDir, string? adapterDir, BaseWeights? baseWeights = null) =>
        new(modelDir, adapterDir, baseWeights ?? (adapterDir is null ? BaseWeights.AsStored : ReadBaseWeights(adapterDir)));

    public string ModelDir { get; }
    public ModelConfig Config { get; }
    public BaseWeights BaseWeights { get; }
    /// <summary>The adapter's scale (alpha/r or alpha/sqrt(r)); 0 without an adapter.</summary>
    public float Scale => _scale;
    /// <summary>Every tensor of the merged model by its Hugging Face key (NF4 quant-state side tensors left out).</summary>
    public IReadOnlyList<string> Names { get; }

    public bool IsMerged(string name) => _moduleOf.ContainsKey(name);

    /// <summary>A tensor that reads back exactly as stored (neither merged nor NF4-rounded), so its bytes can be copied.</summary>
    public bool IsUnchanged(string name) => !_moduleOf.ContainsKey(name) && !IsNf4(name);

    public long[] Shape(string name) => _nf4Stored.Contains(name) ? Bnb4BitFormat.Read(_store, name).Shape : _store.Get(name).Shape;

    /// <summary>The stored element type (for an NF4-stored weight: the dtype of the model's embeddings).</summary>
    public SafeTensorDType StoredDType(string name)
    {
        if (!_nf4Stored.Contains(name)) return _store.Get(name).DType;
        var embed = Names.FirstOrDefault(n => !_nf4Stored.Contains(n) && _store.Get(n).Shape.Length == 2);
        return embed is null ? SafeTensorDType.F32 : _store.Get(embed).DType;
    }

    public SafeTensorStore Store => _store;

    /// <summary>The merged values of one tensor, row-major in its Hugging Face shape.</summary>
    public float[] Read(string name)
    {
        var w = ReadBase(name);
        if (_moduleOf.TryGetValue(name, out var module)) AddDelta(w, Shape(name), module);
        return w;
    }

    private bool IsNf4(string name) => _nf4Stored.Contains(name) || (BaseWeights == BaseWeights.Nf4 && QuantizeModel.IsBlockLinear(name) && _store.Get(name).Shape.Length == 2);

    private float[] ReadBase(string name)
    {
        if (_nf4Stored.Contains(name)) return Nf4.Dequantize(Bnb4BitFormat.Read(_store, name));
        var values = _store.ReadFloat32(name);
        // The engine quantizes a QLoRA base on load from these same float values (TransformerModel.LoadWeights).
        return IsNf4(name) ? Nf4.Dequantize(Nf4.Quantize(values, _store.Get(name).Shape)) : values;
    }

    private void AddDelta(float[] w, long[] shape, string module)
    {
        if (shape.Length != 2) throw new InvalidDataException($"{_store.Location}: '{module}.weight' is [{string.Join(", ", shape)}], not a matrix");
        bool conv1d = Config.Family == ModelFamily.Gpt2;
        int rows = (int)shape[0], cols = (int)shape[1];
        int outF = conv1d ? cols : rows, inF = conv1d ? rows : cols;
        var (a, b, r) = ReadFactors(module, outF, inF);
        // delta[o, i] = scale · Σ_k B[o, k] A[k, i], accumulated in double and added once
        var row = new double[inF];
        for (int o = 0; o < outF; o++)
        {
            Array.Clear(row);
            for (int k = 0; k < r; k++)
            {
                double bk = b[o * r + k];
                if (bk == 0) continue;
                for (int i = 0; i < inF; i++) row[i] += bk * a[k * inF + i];
            }
            for (int i = 0; i < inF; i++)
            {
                int at = conv1d ? i * outF + o : o * inF + i;
                w[at] = (float)(w[at] + _scale * row[i]);
            }
        }
    }

    /// <summary>The adapter's A [r, in] and B [out, r] of one module, checked against the base weight's shape.</summary>
    public (float[] A, float[] B, int Rank) ReadFactors(string module, int outF, int inF)
    {
        var lora = _lora ?? throw new InvalidOperationException("no adapter");
        var keyA = $"{InferenceModel.AdapterKeyPrefix}{module}.lora_A.weight";
        var keyB = $"{InferenceModel.AdapterKeyPrefix}{module}.lora_B.weight";
        if (!lora.Contains(keyB)) throw new InvalidDataException($"{lora.Location}: '{keyB}' is missing");
        int r = (int)lora.Get(keyA).Shape[0];
        var a = new float[r * inF];
        var b = new float[outF * r];
        lora.ReadFloat32(keyA, a, r, inF);
        lora.ReadFloat32(keyB, b, outF, r);
        return (a, b, r);
    }

    /// <summary>Adapted base weights by Hugging Face key, with their module paths (the adapter's names).</summary>
    public IReadOnlyDictionary<string, string> AdaptedWeights => _moduleOf;

    private string? BaseKey(string module)
    {
        var key = module + ".weight";
        if (_store.Contains(key)) return key;
        const string gpt2Prefix = "transformer.";
        if (Config.Family == ModelFamily.Gpt2 && key.StartsWith(gpt2Prefix, StringComparison.Ordinal) && _store.Contains(key[gpt2Prefix.Length..]))
            return key[gpt2Prefix.Length..];
        return null;
    }

    private bool IsQuantState(string name)
    {
        foreach (var w in _nf4Stored)
            if (name.Length > w.Length && name.StartsWith(w, StringComparison.Ordinal) && name[w.Length] == '.') return true;
        return false;
    }

    /// <summary>Marks an adapter folder as trained against NF4 base weights (QLoRA).</summary>
    public static void WriteBaseQuantization(string adapterDir) =>
        File.WriteAllText(Path.Combine(adapterDir, BaseQuantizationFileName),
            $$"""{"quant_type": "nf4", "blocksize": {{Nf4.DefaultBlockSize}}, "nested_blocksize": {{Nf4.DefaultNestedBlockSize}}, "modules": "transformer-block linear weights"}""" + "\n");

    private static BaseWeights ReadBaseWeights(string adapterDir)
    {
        var path = Path.Combine(adapterDir, BaseQuantizationFileName);
        if (!File.Exists(path)) return BaseWeights.AsStored;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var q = doc.RootElement.TryGetProperty("quant_type", out var v) ? v.GetString() : null;
            return q == "nf4" ? BaseWeights.Nf4 : throw new InvalidDataException($"{path}: field 'quant_type' is '{q}', only nf4 is known");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: invalid JSON: {e.Message}", e);
        }
    }

    public void Dispose()
    {
        _lora?.Dispose();
        _store.Dispose();
    }
}
