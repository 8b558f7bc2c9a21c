using System.CommandLine;
using System.Globalization;
using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Events;
using FineTuneLab.Trainer.Jobs;
using FineTuneLab.Trainer.Training;
using FineTuneLab.Trainer.Training.Run;
using Spectre.Console;

namespace FineTuneLab.Trainer.Cli.Commands;

/// <summary>
/// <c>ftl-train train --config job.json --out DIR [--resume DIR/checkpoints/N]</c>: runs a training job. JSON events
/// on stdout (and DIR/events.jsonl), human progress on stderr; SIGTERM or "stop" on stdin checkpoints and exits 0.
/// Exit codes: 0 completed or stopped, 1 failed while training, 2 refused (invalid spec, bad data, bad checkpoint).
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo>("--config") { Description = "The job spec (JSON, docs/job-spec.md)", Required = true };
        var output = new Option<DirectoryInfo>("--out") { Description = "Output folder: events.jsonl, checkpoints/, adapter/ or model/", Required = true };
        var resume = new Option<DirectoryInfo?>("--resume") { Description = "Continue exactly from this checkpoint folder (DIR/checkpoints/<step>)" };
        var threads = new Option<int?>("--threads") { Description = "CPU threads (overrides the job spec; default all cores)" };
        var device = new Option<string?>("--device") { Description = BackendFactory.OptionHelp + "; overrides the job spec's device (default auto)" };
        device.AcceptOnlyFromAmong("cpu", "cuda", "auto");
        var stopAtEndOfInput = new Option<bool>("--stop-at-end-of-input")
        {
            Description = "Checkpoint and stop when stdin ends, as for a stop line (the agent passes it: its death closes the trainer's stdin)",
        };
        var command = new Command("train", "Run a training job (LoRA or full fine-tuning) with checkpoints and exact resume")
        {
            config, output, resume, threads, device, stopAtEndOfInput,
        };
        command.SetAction(async (parse, ct) =>
        {
            var outDir = parse.GetValue(output)!.FullName;
            var configFile = parse.GetValue(config)!.FullName;
            JobSpec spec;
            try
            {
                spec = JobSpecParser.Load(configFile);
            }
            catch (JobSpecException e)
            {
                await Console.Error.WriteLineAsync(e.Message);
                Refuse(outDir, e.Message);
                return 2;
            }
            var threadCount = parse.GetValue(threads);
            if (threadCount is <= 0)
            {
                await Console.Error.WriteLineAsync($"--threads must be positive (got {threadCount})");
                return 2;
            }
            using var stop = StopRequest.Listen(Console.In, parse.GetValue(stopAtEndOfInput));
            DeviceKind? deviceOverride = parse.GetValue(device) switch
            {
                "cpu" => DeviceKind.Cpu,
                "cuda" => DeviceKind.Cuda,
                "auto" => DeviceKind.Auto,
                _ => null,
            };
            var options = new TrainingRunOptions(spec, configFile, new RunOutput(outDir), parse.GetValue(resume)?.FullName, threadCount, deviceOverride);
            return Console.IsErrorRedirected
                ? await new TrainingRun(options, Console.Out, stop, PlainProgress).ExecuteAsync(ct)
                : await RunWithProgressBarAsync(options, stop, ct);
        });
        return command;
    }

    private static void Refuse(string outDir, string message)
    {
        try
        {
            var run = new RunOutput(outDir);
            run.Create();
            using var events = new EventStream(Console.Out, run.EventsFile, EventStream.ReadLastSeq(run.EventsFile));
            events.Emit(new ErrorEvent(message, nameof(JobSpecException), null));
            events.Emit(new DoneEvent("failed", 0, null, 0));
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"{outDir}: {e.Message}");
        }
    }

    private static void PlainProgress(TrainerEvent e)
    {
        var line = Describe(e);
        if (line is not null) Console.Error.WriteLine(line);
    }

    private static string? Describe(TrainerEvent e) => e switch
    {
        StartEvent s => $"training {s.Job}: {s.TotalSteps} steps on {s.DeviceName} ({(s.Device == "cuda" ? $"CUDA, compute {s.ComputeCapability}, {s.DeviceMemoryBytes >> 20:N0} MiB" : $"{s.Threads} threads")})"
            + $"{(s.ResumedFromStep > 0 ? $", resumed at step {s.ResumedFromStep}" : "")}{(s.DeviceNote is null ? "" : $"; {s.DeviceNote}")}",
        StepEvent s => string.Create(CultureInfo.InvariantCulture, $"step {s.Step}/{s.TotalSteps}  loss {s.Loss:F4}  lr {s.Lr:G3}  grad norm {s.GradNorm:F3}  {s.TokensPerS:F0} tokens/s")
            + (s.Dpo is { } d ? string.Create(CultureInfo.InvariantCulture, $"  accuracy {d.Accuracy:P0}  margin {d.RewardMargin:F3}") : ""),
        EvalEvent { Dpo: { } d } v => string.Create(CultureInfo.InvariantCulture,
            $"eval at step {v.Step}: DPO loss {v.EvalLoss:F4}, preference accuracy {d.Accuracy:P1} of {d.Pairs} pairs, reward margin {d.RewardMargin:F4}"),
        EvalEvent v => string.Create(CultureInfo.InvariantCulture, $"eval at step {v.Step}: loss {v.EvalLoss:F4}, token accuracy {v.TokenAccuracy:P1}, perplexity {v.Perplexity:F2}"),
        CheckpointEvent c => $"checkpoint {c.Path} ({c.Bytes:N0} bytes)",
        LogEvent l => l.Message,
        WarningEvent w => $"warning: {w.Message}",
        ErrorEvent x => $"error: {x.Message}",
        DoneEvent d => string.Create(CultureInfo.InvariantCulture, $"done ({d.Reason}) at step {d.Step} after {d.ElapsedS:F1} s{(d.AdapterPath is null ? "" : $": {d.AdapterPath}")}"),
        _ => null,
    };

    private static async Task<int> RunWithProgressBarAsync(TrainingRunOptions options, StopRequest stop, CancellationToken ct)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        var code = 0;
        await console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask("starting", maxValue: 1);
                void Observe(TrainerEvent e)
                {
                    switch (e)
                    {
                        case StartEvent s:
                            task.MaxValue = Math.Max(1, s.TotalSteps);
                            task.Value = s.ResumedFromStep;
                            break;
                        case StepEvent s:
                            task.Value = s.Step;
                            task.Description = string.Create(CultureInfo.InvariantCulture, $"step {s.Step}/{s.TotalSteps} loss {s.Loss:F4}");
                            break;
                        default:
                            if (Describe(e) is { } line) console.MarkupLine(Markup.Escape(line));
                            break;
                    }
                }
                code = await new TrainingRun(options, Console.Out, stop, Observe).ExecuteAsync(ct);
            });
        return code;
    }
}
