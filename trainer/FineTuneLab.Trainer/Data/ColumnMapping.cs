namespace FineTuneLab.Trainer.Data;

/// <summary>
/// Maps the fields of another JSONL shape onto chat roles, e.g. <c>customer_input → user</c>,
/// <c>ideal_response → assistant</c>, <c>instructions → system</c>. Messages are built in the order the mapping
/// lists the fields; a field the mapping names but a line lacks is a missing-field problem.
/// </summary>
public sealed record ColumnMapping(IReadOnlyList<(string Field, string Role)> Fields)
{
    /// <summary>Parses "field=role,field=role" (the CLI's <c>--columns</c> form).</summary>
    public static ColumnMapping Parse(string spec)
    {
        var fields = new List<(string, string)>();
        foreach (var part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=');
            if (eq <= 0 || eq == part.Length - 1)
                throw new FormatException($"column mapping '{part}' is not field=role");
            var role = part[(eq + 1)..].Trim();
            if (!ChatRoles.IsKnown(role))
                throw new FormatException($"column mapping '{part}': role must be system, user or assistant");
            fields.Add((part[..eq].Trim(), role));
        }
        if (fields.Count == 0) throw new FormatException("empty column mapping");
        return new ColumnMapping(fields);
    }
}

public static class ChatRoles
{
    public const string System = "system", User = "user", Assistant = "assistant";
    public static bool IsKnown(string role) => role is System or User or Assistant;
}
