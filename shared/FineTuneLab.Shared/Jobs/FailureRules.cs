using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace FineTuneLab.Shared.Jobs;

/// <summary>What the coordinator does with a failed trainer.</summary>
public enum FailureAction
{
    /// <summary>Re-queue and resume from the last checkpoint (counts against the job's restart cap).</summary>
    Retry,
    /// <summary>The job ends failed: retrying would fail the same way.</summary>
    Fail,
}

/// <summary>One rule: when the exit code and/or the error text match, the failure is of this class and gets this action.</summary>
public sealed record FailureRule
{
    /// <summary>cuda_oom, nan_divergence, data_error, node_error, config_error, ...</summary>
    public required string Class { get; init; }
    public required FailureAction Action { get; init; }
    /// <summary>Regex matched (case-insensitive) against the error message and stack trace; null matches any text.</summary>
    public string? Pattern { get; init; }
    /// <summary>Exit codes this rule applies to; empty means any.</summary>
    public IReadOnlyList<int> ExitCodes { get; init; } = [];
    /// <summary>Signals this rule applies to (9 for the kernel's OOM killer); empty means any.</summary>
    public IReadOnlyList<int> Signals { get; init; } = [];
    public string? Advice { get; init; }
}

public sealed record FailureClassification(string Class, FailureAction Action, string? Advice);

/// <summary>
/// Classifies trainer failures from the exit code, the signal and the trainer's last error, first matching rule
/// wins: the user's rules (a JSON file) come before the built-in table, so they can override or extend it.
/// </summary>
public sealed class FailureClassifier
{
    private readonly IReadOnlyList<(FailureRule Rule, Regex? Regex)> _rules;

    public static readonly IReadOnlyList<FailureRule> BuiltInRules =
    [
        new() { Class = "cuda_oom", Action = FailureAction.Fail, Pattern = @"CUDA[_ ]?(error: )?out of memory|CUDA_ERROR_OUT_OF_MEMORY|cudaErrorMemoryAllocation",
                Advice = "lower micro_batch_size or max_seq_len, or use method qlora; ftl-train plan shows what fits" },
        new() { Class = "nan_divergence", Action = FailureAction.Fail, Pattern = @"\b(NaN|non-finite|diverg)",
                Advice = "lower the learning rate, add warmup, or clip gradients (optimizer.max_grad_norm)" },
        new() { Class = "data_error", Action = FailureAction.Fail, Pattern = @"dataset|\.jsonl\b",
                Advice = "run ftl-train data check on the dataset and fix the lines it reports" },
        new() { Class = "config_error", Action = FailureAction.Fail, ExitCodes = [2] },
        new() { Class = "host_oom_killed", Action = FailureAction.Retry, Signals = [9],
                Advice = "the node ran out of host memory or the trainer was killed; it resumes from the last checkpoint" },
        new() { Class = "node_error", Action = FailureAction.Retry, Pattern = @"CUDA_ERROR_(ECC|LAUNCH_FAILED|ILLEGAL_ADDRESS|NO_DEVICE)|Xid|No space left on device|Input/output error|NVML",
                Advice = "the node looks unhealthy; the job resumes from its last checkpoint elsewhere" },
        new() { Class = "crash", Action = FailureAction.Retry, Signals = [6, 7, 11] },
    ];

    public FailureClassifier(IEnumerable<FailureRule>? userRules = null)
    {
        _rules = (userRules ?? []).Concat(BuiltInRules)
            .Select(r => (r, r.Pattern is null ? null : new Regex(r.Pattern, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1))))
            .ToList();
    }

    /// <summary>Reads user rules from a JSON array of rules (snake_case fields), naming the file and entry on error.</summary>
    public static IReadOnlyList<FailureRule> LoadRules(string file)
    {
        try
        {
            var rules = JsonSerializer.Deserialize<List<FailureRule>>(File.ReadAllBytes(file), JsonOptions)
                ?? throw new InvalidDataException($"{file}: expected a JSON array of rules");
            for (var i = 0; i < rules.Count; i++)
            {
                if (rules[i].Pattern is { } p)
                {
                    try { _ = new Regex(p); }
                    catch (ArgumentException e) { throw new InvalidDataException($"{file}: rule [{i}] pattern: {e.Message}"); }
                }
            }
            return rules;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{file}: line {e.LineNumber + 1}: {e.Message}");
        }
    }

    public FailureClassification Classify(int exitCode, int signal, string? errorMessage, string? stackTrace)
    {
        var text = $"{errorMessage}\n{stackTrace}";
        foreach (var (rule, regex) in _rules)
        {
            if (rule.ExitCodes.Count > 0 && (signal != 0 || !rule.ExitCodes.Contains(exitCode))) continue;
            if (rule.Signals.Count > 0 && !rule.Signals.Contains(signal)) continue;
            if (regex is not null && !regex.IsMatch(text)) continue;
            return new FailureClassification(rule.Class, rule.Action, rule.Advice);
        }
        // An unknown failure is the trainer's or the user's until shown otherwise: retrying would burn budget.
        return new FailureClassification("unknown", FailureAction.Fail, null);
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };
}
