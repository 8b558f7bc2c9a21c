using System.Text;
using System.Text.Json;
using FineTuneLab.Trainer.Formats;

namespace FineTuneLab.Trainer.Quantization;

/// <summary>
/// bitsandbytes' serialized 4-bit layout (Params4bit / QuantState.as_dict(packed=True)) for a weight named
/// <c>W = "&lt;module&gt;.weight"</c>: <c>W</c> U8 [n/2, 1] (packed codes), <c>W.absmax</c> U8 (double-quantized),
/// <c>W.quant_map</c> F32 [16] (the NF4 values), <c>W.nested_absmax</c> F32, <c>W.nested_quant_map</c> F32 [256], and
/// <c>W.quant_state.bitsandbytes__nf4</c>: a U8 tensor holding the JSON of the non-tensor fields — quant_type,
/// blocksize, dtype, shape, nested_blocksize, nested_dtype, nested_offset.
/// </summary>
public static class Bnb4BitFormat
{
    public const string QuantStateSuffix = ".quant_state.bitsandbytes__nf4";

    /// <summary>True when the store holds <paramref name="weightKey"/> in the bitsandbytes NF4 layout.</summary>
    public static bool IsQuantized(SafeTensorStore store, string weightKey) => store.Contains(weightKey + QuantStateSuffix);

    /// <summary>The tensors (and the JSON state) that store one NF4 weight; <paramref name="dtype"/> is the original dtype's torch name.</summary>
    public static IEnumerable<SafeTensorWriteItem> Items(string weightKey, Nf4Tensor t, string dtype)
    {
        yield return new SafeTensorWriteItem(weightKey, SafeTensorDType.U8, [t.Packed.Length, 1], t.Packed);
        yield return new SafeTensorWriteItem(weightKey + ".absmax", SafeTensorDType.U8, [t.AbsmaxCodes.Length], t.AbsmaxCodes);
        yield return SafeTensorWriteItem.Float32(weightKey + ".quant_map", Nf4.CodeValues, 16);
        yield return SafeTensorWriteItem.Float32(weightKey + ".nested_absmax", t.NestedAbsmax, t.NestedAbsmax.Length);
        yield return SafeTensorWriteItem.Float32(weightKey + ".nested_quant_map", t.NestedQuantMap, t.NestedQuantMap.Length);
        var state = new Dictionary<string, object>
        {
            ["quant_type"] = "nf4",
            ["blocksize"] = t.BlockSize,
            ["dtype"] = dtype,
            ["shape"] = t.Shape,
            ["nested_blocksize"] = t.NestedBlockSize,
            ["nested_dtype"] = "float32",
            ["nested_offset"] = (double)t.Offset,
        };
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(state));
        yield return new SafeTensorWriteItem(weightKey + QuantStateSuffix, SafeTensorDType.U8, [json.Length], json);
    }

    /// <summary>Reads one NF4 weight; every inconsistency names the file and the tensor.</summary>
    public static Nf4Tensor Read(SafeTensorStore store, string weightKey)
    {
        var stateKey = weightKey + QuantStateSuffix;
        string where = $"{store.FileOf(stateKey).Path}: '{stateKey}'";
        using var doc = ParseState(store, stateKey, where);
        var root = doc.RootElement;
        string Str(string k) => root.TryGetProperty(k, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()!
            : throw new SafeTensorsFormatException($"{where}: field '{k}' is missing or not a string");
        int Int(string k) => root.TryGetProperty(k, out var v) && v.TryGetInt32(out var i) ? i
            : throw new SafeTensorsFormatException($"{where}: field '{k}' is missing or not an integer");
        if (Str("quant_type") != "nf4") throw new SafeTensorsFormatException($"{where}: quant_type '{Str("quant_type")}' is not nf4");
        int blockSize = Int("blocksize"), nestedBlockSize = Int("nested_blocksize");
        if (blockSize != Nf4.DefaultBlockSize || nestedBlockSize != Nf4.DefaultNestedBlockSize)
            throw new SafeTensorsFormatException($"{where}: blocksize {blockSize} / nested_blocksize {nestedBlockSize}; this trainer holds NF4 in blocks of {Nf4.DefaultBlockSize} / {Nf4.DefaultNestedBlockSize}");
        if (!root.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array)
            throw new SafeTensorsFormatException($"{where}: field 'shape' is missing");
        var shape = shapeEl.EnumerateArray().Select(e => e.GetInt64()).ToArray();
        if (!root.TryGetProperty("nested_offset", out var off) || off.ValueKind != JsonValueKind.Number)
            throw new SafeTensorsFormatException($"{where}: field 'nested_offset' is missing (only double-quantized NF4 is supported)");
        long n = shape.Aggregate(1L, (a, b) => a * b);
        long blocks = (n + blockSize - 1) / blockSize;

        byte[] Bytes(string suffix, long expected)
        {
            var key = weightKey + suffix;
            if (!store.Contains(key)) throw new SafeTensorsFormatException($"{store.Location}: NF4 tensor '{key}' is missing");
            var info = store.Get(key);
            if (info.DType != SafeTensorDType.U8 || info.ElementCount != expected)
                throw new SafeTensorsFormatException($"{info.File}: tensor '{key}' is {info.DType} {info.ShapeText}, expected U8 with {expected} elements");
            return store.FileOf(key).Bytes(key).ToArray();
        }
        float[] Floats(string suffix, long expected)
        {
            var key = weightKey + suffix;
            if (!store.Contains(key)) throw new SafeTensorsFormatException($"{store.Location}: NF4 tensor '{key}' is missing");
            var info = store.Get(key);
            if (info.ElementCount != expected)
                throw new SafeTensorsFormatException($"{info.File}: tensor '{key}' has {info.ElementCount} elements, expected {expected}");
            return store.ReadFloat32(key);
        }

        var packed = Bytes("", (n + 1) / 2);
        var codes = Bytes(".absmax", blocks);
        var quantMap = Floats(".quant_map", 16);
        for (int i = 0; i < 16; i++)
            if (quantMap[i] != Nf4.CodeValues[i])
                throw new SafeTensorsFormatException($"{where}: quant_map[{i}] = {quantMap[i]} is not the NF4 value {Nf4.CodeValues[i]}");
        var nested = Floats(".nested_absmax", (blocks + nestedBlockSize - 1) / nestedBlockSize);
        var nestedMap = Floats(".nested_quant_map", 256);
        return new Nf4Tensor(shape, packed, codes, nested, nestedMap, (float)off.GetDouble(), blockSize, nestedBlockSize);
    }

    private static JsonDocument ParseState(SafeTensorStore store, string stateKey, string where)
    {
        try
        {
            return JsonDocument.Parse(store.FileOf(stateKey).Bytes(stateKey).ToArray());
        }
        catch (JsonException e)
        {
            throw new SafeTensorsFormatException($"{where}: the quant state is not valid JSON ({e.Message})");
        }
    }
}
