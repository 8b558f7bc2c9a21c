using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace FineTuneLab.Events;

/// <summary>
/// The one JSON form of <see cref="TrainerEvent"/>: what the trainer writes (one object per line, snake_case, nulls
/// left out) and what the agent and coordinator parse. Parsing is strict where a reader would otherwise be misled (an
/// unknown type, a newer schema version, a missing or mistyped field) and lenient where the contract allows it (fields
/// a newer writer added, the order of properties).
/// </summary>
public static class EventJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // A diverging run's loss is NaN or Infinity: written as "NaN"/"Infinity" rather than failing the line.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        AllowOutOfOrderMetadataProperties = true,
        RespectNullableAnnotations = true,
        TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { RequireNonOptionalParameters } },
    };

    public static string Serialize(TrainerEvent e) => JsonSerializer.Serialize(e, Options);

    /// <summary>Parses one event line; on failure <paramref name="error"/> says why, naming the field.</summary>
    public static bool TryParse(string line, [NotNullWhen(true)] out TrainerEvent? e, [NotNullWhen(false)] out string? error)
    {
        e = null;
        try
        {
            e = JsonSerializer.Deserialize<TrainerEvent>(line, Options);
        }
        catch (JsonException ex)
        {
            error = ShapeProblem(line) ?? Describe(ex);
            return false;
        }
        catch (NotSupportedException ex)
        {
            // The discriminator is missing: the abstract base cannot be made.
            error = ShapeProblem(line) ?? ex.Message;
            return false;
        }
        error = e switch
        {
            null => "the line is JSON null, not an event",
            { V: > EventSchema.Version } => $"event schema v{e.V} is newer than this reader's v{EventSchema.Version}",
            { V: < 1 } => $"field 'v' must be at least 1 (got {e.V})",
            { Seq: < 1 } => $"field 'seq' must be at least 1 (got {e.Seq})",
            _ => null,
        };
        if (error is null && e is not null) return true;
        e = null;
        error ??= "the line is not an event";
        return false;
    }

    /// <summary>The event's name on the wire (its <c>type</c>).</summary>
    public static string TypeName(TrainerEvent e) => e switch
    {
        StartEvent => "start",
        StepEvent => "step",
        EvalEvent => "eval",
        CheckpointEvent => "checkpoint",
        LogEvent => "log",
        WarningEvent => "warning",
        ErrorEvent => "error",
        DoneEvent => "done",
        _ => throw new ArgumentOutOfRangeException(nameof(e), e.GetType().Name, "not an event type of the contract"),
    };

    // Constructor parameters without a default and not nullable must be present: a step line without "loss" is refused
    // rather than read as a loss of 0. Nullable ones may be left out (the writer omits nulls).
    private static void RequireNonOptionalParameters(JsonTypeInfo info)
    {
        foreach (var property in info.Properties)
            if (property.AssociatedParameter is { HasDefaultValue: false, IsNullable: false })
                property.IsRequired = true;
    }

    private static string Describe(JsonException ex)
    {
        var where = ex.Path is { Length: > 0 } path && path != "$" ? $" at {path}" : "";
        var at = ex.LineNumber is { } n ? $" (line {n + 1}, byte {ex.BytePositionInLine ?? 0})" : "";
        return $"{FirstSentence(ex.Message)}{where}{at}";
    }

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(". Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message.TrimEnd('.');
    }

    private static readonly HashSet<string> KnownTypes = ["start", "step", "eval", "checkpoint", "log", "warning", "error", "done"];

    // What is wrong with the line's outer shape (not an object, no or unknown type), or null when the shape is right
    // and the fault lies in a field.
    private static string? ShapeProblem(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) return "an event must be a JSON object";
            if (!doc.RootElement.TryGetProperty("type", out var type)) return "field 'type' is missing";
            if (type.ValueKind != JsonValueKind.String)
                return $"field 'type' must be a string (got {type.ValueKind.ToString().ToLowerInvariant()})";
            return KnownTypes.Contains(type.GetString()!) ? null : $"unknown event type '{type.GetString()}'";
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
