using System.Text.Json;

namespace FineTuneLab.Trainer.Training;

/// <summary>
/// A batch of token ids from JSON: <c>{"input_ids": [[...], ...], "labels": [[...], ...]}</c>; every row the same
/// length; labels optional (then the ids are the labels, HF's convention for causal LM).
/// </summary>
public sealed record TokenBatch(int[] InputIds, int[] Labels, int Batch, int Seq)
{
    public static TokenBatch Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"token file not found: {path}", path);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("input_ids", out var ids))
                throw new FormatException($"{path}: expected an object with 'input_ids'");
            var idRows = Rows(ids, path, "input_ids");
            var labelRows = root.TryGetProperty("labels", out var labels) && labels.ValueKind != JsonValueKind.Null
                ? Rows(labels, path, "labels") : idRows;
            if (labelRows.Count != idRows.Count)
                throw new FormatException($"{path}: {idRows.Count} rows of input_ids but {labelRows.Count} rows of labels");
            int seq = idRows[0].Length;
            for (int r = 0; r < idRows.Count; r++)
            {
                if (idRows[r].Length != seq) throw new FormatException($"{path}: input_ids row {r} has {idRows[r].Length} tokens, row 0 has {seq}");
                if (labelRows[r].Length != seq) throw new FormatException($"{path}: labels row {r} has {labelRows[r].Length} entries, input_ids has {seq}");
            }
            return new TokenBatch(idRows.SelectMany(x => x).ToArray(), labelRows.SelectMany(x => x).ToArray(), idRows.Count, seq);
        }
        catch (JsonException e)
        {
            throw new FormatException($"{path}: not valid JSON (line {e.LineNumber + 1}): {e.Message}");
        }
    }

    private static List<int[]> Rows(JsonElement e, string path, string field)
    {
        if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() == 0)
            throw new FormatException($"{path}: '{field}' must be a non-empty array of rows");
        var rows = new List<int[]>();
        int r = 0;
        foreach (var row in e.EnumerateArray())
        {
            if (row.ValueKind != JsonValueKind.Array || row.GetArrayLength() == 0)
                throw new FormatException($"{path}: {field}[{r}] must be a non-empty array of integers");
            var values = new int[row.GetArrayLength()];
            int i = 0;
            foreach (var v in row.EnumerateArray())
            {
                if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out values[i]))
                    throw new FormatException($"{path}: {field}[{r}][{i}] must be an integer, found {v.GetRawText()}");
                i++;
            }
            rows.Add(values);
            r++;
        }
        return rows;
    }
}
