using System.Text;
using System.Text.Json;
using FineTuneLab.Trainer.Tokenizers.Jinja;

namespace FineTuneLab.Trainer.Data;

/// <summary>
/// Turns JSONL lines into <see cref="DatasetRecord"/>s, reporting every problem of a line (not just the first) with
/// its line number and field. With <see cref="DatasetFormat.Auto"/> the first recognizable line decides the format
/// and later lines of another shape are errors.
/// </summary>
public sealed class RecordParser(DatasetFormat format, ColumnMapping? mapping = null)
{
    public DatasetFormat Format { get; private set; } = format;
    public ColumnMapping? Mapping { get; } = mapping;

    /// <summary>Parses one line; returns null when it has errors (they are added to <paramref name="problems"/>).</summary>
    public DatasetRecord? Parse(JsonlLine line, List<DatasetProblem> problems)
    {
        var errorsBefore = problems.Count(p => p.Severity == ProblemSeverity.Error);
        var record = ParseCore(line, problems);
        return problems.Count(p => p.Severity == ProblemSeverity.Error) > errorsBefore ? null : record;
    }

    private DatasetRecord? ParseCore(JsonlLine line, List<DatasetProblem> problems)
    {
        var n = line.LineNumber;
        void Add(ProblemKind kind, string? field, string message, ProblemSeverity severity = ProblemSeverity.Error) =>
            problems.Add(new DatasetProblem(n, severity, kind, field, message));

        var bytes = line.Bytes.Span;
        var bad = Formats.Utf8Text.FirstInvalid(bytes);
        if (bad >= 0)
        {
            Add(ProblemKind.InvalidUtf8, null, $"invalid UTF-8 at byte {bad} of the line");
            return null;
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(line.Bytes);
        }
        catch (JsonException e)
        {
            Add(ProblemKind.InvalidJson, null, $"invalid JSON at byte {e.BytePositionInLine}: {FirstSentence(e.Message)}");
            return null;
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                Add(ProblemKind.NotAnObject, null, $"a line must be a JSON object, found {root.ValueKind.ToString().ToLowerInvariant()}");
                return null;
            }
            var shape = DetectShape(root);
            if (Format == DatasetFormat.Auto)
            {
                if (shape is null)
                {
                    Add(ProblemKind.UnrecognizedShape, null, $"unrecognized example shape (fields: {string.Join(", ", root.EnumerateObject().Select(p => p.Name))}); " +
                        "expected messages, prompt+completion, prompt+chosen+rejected, or a column mapping");
                    return null;
                }
                Format = shape.Value;
            }
            else if (shape is not null && shape != Format)
            {
                Add(ProblemKind.MixedFormats, null, $"this line looks like {Describe(shape.Value)} but the dataset is {Describe(Format)}");
                return null;
            }
            return Format switch
            {
                DatasetFormat.Chat => Mapping is not null && !root.TryGetProperty("messages", out _) ? ParseMapped(root, n, Add) : ParseChat(root, n, Add),
                DatasetFormat.PromptCompletion => ParsePromptCompletion(root, n, Add),
                _ => ParsePreference(root, n, Add),
            };
        }
    }

    private static string Describe(DatasetFormat f) => f switch
    {
        DatasetFormat.Chat => "chat",
        DatasetFormat.PromptCompletion => "prompt-completion",
        DatasetFormat.Preference => "preference",
        _ => "auto",
    };

    private static string FirstSentence(string message)
    {
        var i = message.IndexOf(". ", StringComparison.Ordinal);
        return i > 0 ? message[..i] : message;
    }

    private DatasetFormat? DetectShape(JsonElement root)
    {
        if (root.TryGetProperty("messages", out _)) return DatasetFormat.Chat;
        if (root.TryGetProperty("chosen", out _) || root.TryGetProperty("rejected", out _)) return DatasetFormat.Preference;
        if (root.TryGetProperty("completion", out _) || root.TryGetProperty("prompt", out _)) return DatasetFormat.PromptCompletion;
        if (Mapping is not null && Mapping.Fields.Any(f => root.TryGetProperty(f.Field, out _))) return DatasetFormat.Chat;
        return null;
    }

    private delegate void Report(ProblemKind kind, string? field, string message, ProblemSeverity severity = ProblemSeverity.Error);

    private static string? ReadString(JsonElement obj, string name, string fieldPath, Report add, bool allowEmpty = false)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            add(ProblemKind.MissingField, fieldPath, $"missing '{fieldPath}'");
            return null;
        }
        if (v.ValueKind != JsonValueKind.String)
        {
            add(ProblemKind.WrongType, fieldPath, $"'{fieldPath}' must be a string, found {v.ValueKind.ToString().ToLowerInvariant()}");
            return null;
        }
        var s = v.GetString()!;
        if (!allowEmpty && string.IsNullOrWhiteSpace(s))
        {
            add(ProblemKind.EmptyField, fieldPath, $"'{fieldPath}' is empty");
            return null;
        }
        return s;
    }

    private static ChatRecord? ParseChat(JsonElement root, long line, Report add)
    {
        if (!root.TryGetProperty("messages", out var msgs) || msgs.ValueKind != JsonValueKind.Array)
        {
            add(msgs.ValueKind == JsonValueKind.Undefined ? ProblemKind.MissingField : ProblemKind.WrongType, "messages", "'messages' must be a list of {role, content}");
            return null;
        }
        var messages = new List<ChatMessage>();
        var ok = true;
        var i = 0;
        foreach (var m in msgs.EnumerateArray())
        {
            var path = $"messages[{i++}]";
            if (m.ValueKind != JsonValueKind.Object)
            {
                add(ProblemKind.WrongType, path, $"'{path}' must be an object with role and content");
                ok = false;
                continue;
            }
            var role = ReadString(m, "role", path + ".role", add);
            var content = ReadString(m, "content", path + ".content", add);
            if (role is not null && !ChatRoles.IsKnown(role))
            {
                add(ProblemKind.UnknownRole, path + ".role", $"unknown role '{role}' (expected system, user or assistant)");
                role = null;
            }
            if (role is null || content is null) ok = false;
            else messages.Add(new ChatMessage(role, content));
        }
        if (i == 0)
        {
            add(ProblemKind.EmptyField, "messages", "'messages' is empty");
            return null;
        }
        return ok && CheckOrder(messages, add) ? new ChatRecord(line, messages) : null;
    }

    private ChatRecord? ParseMapped(JsonElement root, long line, Report add)
    {
        var messages = new List<ChatMessage>();
        var ok = true;
        foreach (var (field, role) in Mapping!.Fields)
        {
            var content = ReadString(root, field, field, add);
            if (content is null) ok = false;
            else messages.Add(new ChatMessage(role, content));
        }
        return ok && CheckOrder(messages, add) ? new ChatRecord(line, messages) : null;
    }

    /// <summary>An optional system message first, then user and assistant alternating from user, with at least one assistant turn.</summary>
    private static bool CheckOrder(IReadOnlyList<ChatMessage> messages, Report add)
    {
        var ok = true;
        var expectUser = true;
        for (var i = 0; i < messages.Count; i++)
        {
            var role = messages[i].Role;
            if (role == ChatRoles.System)
            {
                if (i != 0)
                {
                    add(ProblemKind.WrongOrder, $"messages[{i}].role", $"a system message may only come first (found at messages[{i}])");
                    ok = false;
                }
                continue;
            }
            var expected = expectUser ? ChatRoles.User : ChatRoles.Assistant;
            if (role != expected)
            {
                add(ProblemKind.WrongOrder, $"messages[{i}].role", $"expected a {expected} turn at messages[{i}], found {role} (turns must alternate user/assistant, starting with user)");
                ok = false;
                break;
            }
            expectUser = !expectUser;
        }
        if (!messages.Any(m => m.Role == ChatRoles.Assistant))
        {
            add(ProblemKind.NoAssistantTurn, "messages", "no assistant turn: nothing to train on");
            ok = false;
        }
        else if (ok && messages[^1].Role == ChatRoles.User)
            add(ProblemKind.EndsWithUserTurn, "messages", "the last turn is a user turn; it is context only and nothing answers it", ProblemSeverity.Warning);
        return ok;
    }

    private static PromptCompletionRecord? ParsePromptCompletion(JsonElement root, long line, Report add)
    {
        var prompt = ReadString(root, "prompt", "prompt", add);
        var completion = ReadString(root, "completion", "completion", add);
        return prompt is null || completion is null ? null : new PromptCompletionRecord(line, prompt, completion);
    }

    private static PreferenceRecord? ParsePreference(JsonElement root, long line, Report add)
    {
        var prompt = ReadString(root, "prompt", "prompt", add);
        string? Side(string name)
        {
            if (root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && string.IsNullOrWhiteSpace(v.GetString()))
            {
                add(ProblemKind.EmptyPreferenceSide, name, $"'{name}' is empty: a preference pair needs two real answers");
                return null;
            }
            return ReadString(root, name, name, add);
        }
        var chosen = Side("chosen");
        var rejected = Side("rejected");
        if (chosen is not null && rejected is not null && chosen.Trim() == rejected.Trim())
        {
            add(ProblemKind.IdenticalChosenRejected, "rejected", "'chosen' and 'rejected' are identical: the pair teaches nothing");
            return null;
        }
        return prompt is null || chosen is null || rejected is null ? null : new PreferenceRecord(line, prompt, chosen, rejected);
    }
}
