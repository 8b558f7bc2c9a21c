using System.CommandLine;
using System.Text.Json;
using FineTuneLab.Trainer.Jobs;
using FineTuneLab.Trainer.Planning;

namespace FineTuneLab.Trainer.Cli.Commands;

/// <summary>ftl-train plan: predicted peak memory of a job and whether it fits, data tokens, steps, time and cost.</summary>
internal static class PlanCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo>("--config") { Description = "job spec JSON", Required = true };
        var gpu = new Option<double?>("--gpu-memory-gb") { Description = "memory to fit in (default: this host's available memory)" };
        var tps = new Option<double?>("--tokens-per-s") { Description = "training throughput, for the time projection" };
        var price = new Option<double?>("--price-per-hour") { Description = "price of the node per hour, for the cost projection" };
        var json = new Option<bool>("--json") { Description = "print JSON" };
        var command = new Command("plan", "Predict a job's memory, steps, time and cost") { config, gpu, tps, price, json };
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                var spec = JobSpecParser.Load(parse.GetValue(config)!.FullName);
                var plan = await JobPlanner.PlanAsync(spec, parse.GetValue(gpu), parse.GetValue(tps), parse.GetValue(price), ct);
                if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(ToJson(plan), new JsonSerializerOptions { WriteIndented = true }));
                else Print(plan);
                return plan.Fits ? 0 : 1;
            }
            catch (Exception e) when (e is IOException or InvalidDataException or FormatException or ArgumentException or JobSpecException
                or Formats.SafeTensorsFormatException or Models.ModelConfigException or Data.DatasetFormatException or Tokenizers.Jinja.JinjaException)
            {
                Console.Error.WriteLine($"plan: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static object ToJson(JobPlan p) => new
    {
        model = new { architecture = p.Model.Architecture, layers = p.Model.NumLayers, hidden = p.Model.HiddenSize, weight_dtype = p.MatrixDType.ToString() },
        memory = p.Memory.Components.Select(c => new { name = c.Name, bytes = c.Bytes, phase = c.Phase.ToString().ToLowerInvariant(), note = c.Note }),
        load_peak_bytes = p.Memory.LoadPeakBytes,
        step_peak_bytes = p.Memory.StepPeakBytes,
        peak_bytes = p.Memory.PeakBytes,
        budget_bytes = p.BudgetBytes,
        budget_source = p.BudgetSource,
        fits = p.Fits,
        advice = p.Advice,
        data = new { examples = p.Data.Examples, dropped = p.Data.Dropped, tokens = p.Data.Tokens, trainable_tokens = p.Data.TrainableTokens, longest = p.Data.LongestExample },
        steps = new { sequences_per_epoch = p.Projection.SequencesPerEpoch, steps_per_epoch = p.Projection.StepsPerEpoch, total_steps = p.Projection.TotalSteps, tokens_per_step = p.Projection.TokensPerStep, total_tokens = p.Projection.TotalTokens },
        hours = p.Projection.Hours,
        cost = p.Projection.Cost,
    };

    private static void Print(JobPlan p)
    {
        Console.WriteLine($"{p.Model.Architecture}: {p.Model.NumLayers} layers, hidden {p.Model.HiddenSize}, frozen matrices in {p.MatrixDType}, {p.Threads} threads");
        Console.WriteLine();
        Console.WriteLine("| memory | MiB | when | what |");
        Console.WriteLine("| --- | ---: | --- | --- |");
        foreach (var c in p.Memory.Components)
            Console.WriteLine($"| {c.Name} | {c.Bytes / 1048576.0:F1} | {c.Phase.ToString().ToLowerInvariant()} | {c.Note} |");
        Console.WriteLine($"| **peak** | **{p.Memory.PeakBytes / 1048576.0:F1}** | | load {PlanAdvice.Mib(p.Memory.LoadPeakBytes)}, step {PlanAdvice.Mib(p.Memory.StepPeakBytes)} |");
        Console.WriteLine();
        Console.WriteLine(p.BudgetBytes is { } b
            ? $"{(p.Fits ? "fits" : "does NOT fit")} in {PlanAdvice.Mib(b)} ({p.BudgetSource})"
            : $"no memory budget known ({p.BudgetSource})");
        foreach (var a in p.Advice) Console.WriteLine($"  - {a}");
        Console.WriteLine();
        var r = p.Projection;
        Console.WriteLine($"data: {p.Data.Examples} examples ({p.Data.Dropped} dropped), {p.Data.Tokens} tokens ({p.Data.TrainableTokens} with loss), longest {p.Data.LongestExample}");
        Console.WriteLine($"steps: {r.SequencesPerEpoch} sequences/epoch, {r.StepsPerEpoch} steps/epoch, {r.TotalSteps} steps, {r.TotalTokens} tokens in all");
        if (r.Hours is { } h) Console.WriteLine($"time: {h:F2} h{(r.Cost is { } c ? $", cost {c:F2}" : "")}");
    }
}
