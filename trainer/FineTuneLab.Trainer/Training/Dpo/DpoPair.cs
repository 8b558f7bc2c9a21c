using System.Text.Json;

namespace FineTuneLab.Trainer.Training.Dpo;

/// <summary>
/// One preference pair as token sequences sharing the prompt: ids and HF-style labels (unshifted, -100 on the prompt)
/// for the chosen and the rejected answer. The log-probability of an answer is summed over its labelled tokens.
/// </summary>
public sealed record DpoPair(int[] ChosenIds, int[] ChosenLabels, int[] RejectedIds, int[] RejectedLabels)
{
    public static DpoPair FromEncoded(Data.EncodedExample chosen, Data.EncodedExample rejected) =>
        new(chosen.InputIds, chosen.Labels, rejected.InputIds, rejected.Labels);

    /// <summary>
    /// Pairs from JSON: <c>{"pairs": [{"chosen_ids": [...], "chosen_labels": [...], "rejected_ids": [...],
    /// "rejected_labels": [...]}, ...]}</c> (what <c>ftl-train debug-dpo --pairs</c> reads).
    /// </summary>
    public static IReadOnlyList<DpoPair> LoadJson(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"pairs file not found: {path}", path);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new FormatException($"{path}: not valid JSON (line {e.LineNumber + 1}): {e.Message}"); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("pairs", out var pairs)
                || pairs.ValueKind != JsonValueKind.Array || pairs.GetArrayLength() == 0)
                throw new FormatException($"{path}: expected an object with a non-empty 'pairs' array");
            var result = new List<DpoPair>();
            int i = 0;
            foreach (var p in pairs.EnumerateArray())
            {
                int[] Ints(string field)
                {
                    if (p.ValueKind != JsonValueKind.Object || !p.TryGetProperty(field, out var a) || a.ValueKind != JsonValueKind.Array || a.GetArrayLength() == 0)
                        throw new FormatException($"{path}: pairs[{i}].{field} must be a non-empty array of integers");
                    var v = new int[a.GetArrayLength()];
                    int j = 0;
                    foreach (var e in a.EnumerateArray())
                    {
                        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out v[j]))
                            throw new FormatException($"{path}: pairs[{i}].{field}[{j}] must be an integer, found {e.GetRawText()}");
                        j++;
                    }
                    return v;
                }
                var pair = new DpoPair(Ints("chosen_ids"), Ints("chosen_labels"), Ints("rejected_ids"), Ints("rejected_labels"));
                if (pair.ChosenIds.Length != pair.ChosenLabels.Length || pair.RejectedIds.Length != pair.RejectedLabels.Length)
                    throw new FormatException($"{path}: pairs[{i}]: ids and labels must have the same length");
                result.Add(pair);
                i++;
            }
            return result;
        }
    }
}

/// <summary>The reference policy's (base model, adapter off) summed log-probabilities of a pair's two answers.</summary>
public readonly record struct DpoReference(double Chosen, double Rejected);
