using System.Text;
using System.Text.Json;
using FineTuneLab.Trainer.Export;

namespace FineTuneLab.Trainer.Inference;

/// <summary>Writes a comparison as <c>pairs.jsonl</c> (one object per example) and <c>report.md</c> (scores and a side-by-side table).</summary>
public static class ComparisonWriter
{
    private static readonly JsonSerializerOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void Write(ComparisonReport report, string outDir)
    {
        Directory.CreateDirectory(outDir);
        var jsonl = new StringBuilder();
        foreach (var e in report.Examples)
            jsonl.AppendLine(JsonSerializer.Serialize(new { line = e.Line, prompt = e.Prompt, reference = e.Reference, @base = e.Base, fine_tuned = e.FineTuned }, JsonOptions));
        AtomicFile.WriteAllText(Path.Combine(outDir, "pairs.jsonl"), jsonl.ToString());
        AtomicFile.WriteAllText(Path.Combine(outDir, "report.md"), Markdown(report));
    }

    public static string Markdown(ComparisonReport r)
    {
        var s = new StringBuilder();
        s.AppendLine("# Base vs fine-tuned");
        s.AppendLine();
        s.AppendLine($"{r.Examples.Count} held-out examples; scores are teacher-forced on the reference answers ({r.Base.Tokens} tokens).");
        s.AppendLine();
        s.AppendLine("| model | eval loss | perplexity | token accuracy |");
        s.AppendLine("| --- | ---: | ---: | ---: |");
        s.AppendLine($"| base | {r.Base.Loss:F4} | {r.Base.Perplexity:F2} | {r.Base.TokenAccuracy:P1} |");
        s.AppendLine($"| fine-tuned | {r.FineTuned.Loss:F4} | {r.FineTuned.Perplexity:F2} | {r.FineTuned.TokenAccuracy:P1} |");
        s.AppendLine();
        s.AppendLine("| line | prompt | reference | base | fine-tuned |");
        s.AppendLine("| ---: | --- | --- | --- | --- |");
        foreach (var e in r.Examples)
            s.AppendLine($"| {e.Line} | {Cell(e.Prompt)} | {Cell(e.Reference)} | {Cell(e.Base)} | {Cell(e.FineTuned)} |");
        return s.ToString();
    }

    private static string Cell(string text)
    {
        var t = text.Replace("\r", "").Replace("\n", "<br>").Replace("|", "\\|");
        return t.Length > 300 ? t[..300] + "…" : t;
    }
}
