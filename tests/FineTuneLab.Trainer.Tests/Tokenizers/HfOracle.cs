using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using FineTuneLab.TestSupport;

namespace FineTuneLab.Trainer.Tests.Tokenizers;

/// <summary>What Hugging Face's tokenizers (npm `tokenizers`, run by scripts/oracle/hf-tokenize.js) gives for one text.</summary>
internal sealed record OracleResult(
    [property: JsonPropertyName("ids")] int[] Ids,
    [property: JsonPropertyName("idsSpecial")] int[] IdsSpecial,
    [property: JsonPropertyName("offsets")] int[][] Offsets,
    [property: JsonPropertyName("decoded")] string Decoded,
    [property: JsonPropertyName("decodedSkip")] string DecodedSkip);

/// <summary>Runs the reference and caches its answers under RepoPaths.Cache, keyed by the hash of the tokenizer file,
/// the texts, the script and the pinned package versions.</summary>
internal static class HfOracle
{
    private static string OracleDir => Path.Combine(RepoPaths.Scripts, "oracle");

    public static async Task<List<OracleResult>> EncodeAsync(string tokenizerJson, IReadOnlyList<string> texts)
    {
        var textsJson = JsonSerializer.Serialize(texts);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(await File.ReadAllBytesAsync(tokenizerJson));
        sha.AppendData(Encoding.UTF8.GetBytes(textsJson));
        sha.AppendData(await File.ReadAllBytesAsync(Path.Combine(OracleDir, "hf-tokenize.js")));
        sha.AppendData(await File.ReadAllBytesAsync(Path.Combine(OracleDir, "package-lock.json")));
        var key = Convert.ToHexString(sha.GetHashAndReset())[..32].ToLowerInvariant();
        var cacheDir = Path.Combine(RepoPaths.Cache, "hf-tokenizers");
        Directory.CreateDirectory(cacheDir);
        var cached = Path.Combine(cacheDir, $"{key}.json");

        if (!File.Exists(cached))
        {
            if (!Directory.Exists(Path.Combine(OracleDir, "node_modules", "tokenizers")))
                throw new InvalidOperationException("scripts/oracle/node_modules is missing: run scripts/lib/ensure-deps.sh (npm ci there)");
            var request = Path.Combine(cacheDir, $"{key}.request.json");
            await File.WriteAllTextAsync(request, JsonSerializer.Serialize(new { tokenizer = Path.GetFullPath(tokenizerJson), texts }));
            var result = await ExternalProcess.RunAsync("node", [Path.Combine(OracleDir, "hf-tokenize.js"), request], OracleDir);
            result.EnsureSuccess("node scripts/oracle/hf-tokenize.js");
            File.Delete(request);
            var tmp = cached + ".tmp";
            await File.WriteAllTextAsync(tmp, result.StdOut);
            File.Move(tmp, cached, overwrite: true);
        }
        return JsonSerializer.Deserialize<List<OracleResult>>(await File.ReadAllTextAsync(cached))
               ?? throw new InvalidDataException($"{cached}: empty oracle answer");
    }
}
