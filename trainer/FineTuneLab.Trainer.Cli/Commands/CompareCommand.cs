using System.CommandLine;
using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Inference;

namespace FineTuneLab.Trainer.Cli.Commands;

/// <summary>ftl-train compare: base vs base + adapter on a held-out set — generations side by side, eval loss and token accuracy.</summary>
internal static class CompareCommand
{
    public static Command Create()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "base Hugging Face model folder", Required = true };
        var adapter = new Option<DirectoryInfo>("--adapter") { Description = "PEFT LoRA adapter folder", Required = true };
        var test = new Option<FileInfo>("--test") { Description = "held-out JSONL (chat or prompt/completion)", Required = true };
        var output = new Option<DirectoryInfo>("--out") { Description = "folder for pairs.jsonl and report.md", DefaultValueFactory = _ => new DirectoryInfo("compare") };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "most tokens each model generates per example", DefaultValueFactory = _ => 128 };
        var threads = new Option<int?>("--threads") { Description = "CPU threads (default: all cores)" };
        var command = new Command("compare", "Compare the base and the fine-tuned model on held-out examples") { model, adapter, test, output, maxNew, threads };
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                using var backend = BackendFactory.Cpu(parse.GetValue(threads));
                var report = await ModelComparison.RunAsync(parse.GetValue(model)!.FullName, parse.GetValue(adapter)!.FullName,
                    parse.GetValue(test)!.FullName, parse.GetValue(maxNew), backend, p => Console.Error.Write($"\r{p}   "), ct);
                Console.Error.WriteLine();
                var outDir = parse.GetValue(output)!.FullName;
                ComparisonWriter.Write(report, outDir);
                Console.WriteLine($"base: loss {report.Base.Loss:F4}, token accuracy {report.Base.TokenAccuracy:P1}");
                Console.WriteLine($"fine-tuned: loss {report.FineTuned.Loss:F4}, token accuracy {report.FineTuned.TokenAccuracy:P1}");
                Console.WriteLine($"wrote {Path.Combine(outDir, "pairs.jsonl")} and {Path.Combine(outDir, "report.md")}");
                return 0;
            }
            catch (Exception e) when (e is IOException or InvalidDataException or FormatException or ArgumentException
                or Formats.SafeTensorsFormatException or Models.ModelConfigException or Data.DatasetFormatException or Tokenizers.Jinja.JinjaException)
            {
                Console.Error.WriteLine($"compare: {e.Message}");
                return 2;
            }
        });
        return command;
    }
}
