using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.TestSupport;

namespace FineTuneLab.Trainer.Tests.ChatTemplates;

/// <summary>One rendering by Python's jinja2 (scripts/chat_template_ref.py): the text, or the error it raised.</summary>
public sealed record ReferenceResult(string? Text, string? Error);

/// <summary>Runs scripts/chat_template_ref.py, caching its output under RepoPaths.Cache by the hash of everything it reads.</summary>
public static class JinjaReference
{
    private static readonly string Script = Path.Combine(RepoPaths.Scripts, "chat_template_ref.py");

    public static async Task<IReadOnlyList<ReferenceResult>> RenderAsync(string? configPath, JsonArray cases, string? templateName = null)
    {
        var casesJson = cases.ToJsonString();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(await File.ReadAllBytesAsync(Script));
        if (configPath is not null) sha.AppendData(await File.ReadAllBytesAsync(configPath));
        sha.AppendData(Encoding.UTF8.GetBytes(casesJson + "\0" + templateName));
        var hash = Convert.ToHexStringLower(sha.GetHashAndReset());
        var cacheDir = Path.Combine(RepoPaths.Cache, "chat_template_ref");
        Directory.CreateDirectory(cacheDir);
        var cacheFile = Path.Combine(cacheDir, hash + ".json");
        string output;
        if (File.Exists(cacheFile))
            output = await File.ReadAllTextAsync(cacheFile);
        else
        {
            var casesFile = Path.Combine(cacheDir, $"{hash}.{Guid.NewGuid():N}.cases.tmp");
            await File.WriteAllTextAsync(casesFile, casesJson);
            var args = new List<string> { Script, "--cases", casesFile };
            if (configPath is not null) args.AddRange(["--config", configPath]);
            if (templateName is not null) args.AddRange(["--template-name", templateName]);
            var result = (await ExternalProcess.RunAsync(ExternalProcess.DebianPython, args)).EnsureSuccess("chat_template_ref.py");
            File.Delete(casesFile);
            output = result.StdOut;
            var tmp = $"{cacheFile}.{Guid.NewGuid():N}.tmp";
            await File.WriteAllTextAsync(tmp, output);
            File.Move(tmp, cacheFile, overwrite: true);
        }
        using var doc = JsonDocument.Parse(output);
        return doc.RootElement.EnumerateArray().Select(e => new ReferenceResult(
            e.TryGetProperty("text", out var t) ? t.GetString() : null,
            e.TryGetProperty("error", out var err) ? err.GetString() : null)).ToList();
    }

    /// <summary>The fixed time both sides use for strftime_now (the script's default --now).</summary>
    public static readonly DateTime Now = new(2026, 11, 21, 12, 34, 56);
}
