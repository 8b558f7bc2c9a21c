using System.CommandLine;
using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Backends.Cuda;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;
using FineTuneLab.Trainer.Training;

namespace FineTuneLab.Trainer.Cli.Commands;

/// <summary>
/// ftl-train debug-step: one forward + backward of a LoRA model on given token ids; writes loss, logits and every
/// LoRA gradient (PEFT key names) to a safetensors file, for checking the engine against a reference.
/// </summary>
internal static class DebugStepCommand
{
    public static Command Create()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "Hugging Face model folder (config.json + *.safetensors)", Required = true };
        var tokens = new Option<FileInfo>("--tokens") { Description = "JSON {\"input_ids\": [[...]], \"labels\": [[...]]} (labels unshifted, -100 ignored; default: the ids)", Required = true };
        var rank = new Option<int>("--lora-r") { Description = "LoRA rank", Required = true };
        var alpha = new Option<double>("--lora-alpha") { Description = "LoRA alpha (scale = alpha / r)", Required = true };
        var targets = new Option<string>("--targets") { Description = "comma-separated target modules (default: every linear layer)", DefaultValueFactory = _ => "" };
        var rslora = new Option<bool>("--rslora") { Description = "scale by alpha / sqrt(r)" };
        var init = new Option<FileInfo?>("--lora-init") { Description = "safetensors with PEFT-named lora_A / lora_B to start from (default: PEFT init, B = 0)" };
        var weights = new Option<string?>("--weights") { Description = "keep frozen weights as fp32, bf16 or fp16 (default: as stored)" };
        var threads = new Option<int?>("--threads") { Description = "CPU threads (default: all cores)" };
        var seed = new Option<ulong>("--seed") { Description = "seed of the LoRA initialisation", DefaultValueFactory = _ => 0UL };
        var device = new Option<string>("--device") { Description = BackendFactory.OptionHelp, DefaultValueFactory = _ => "cpu" };
        var output = new Option<FileInfo>("--out") { Description = "output .safetensors", Required = true };
        var command = new Command("debug-step", "One forward+backward on given ids; writes loss, logits and LoRA gradients (PEFT names)")
        {
            model, tokens, rank, alpha, targets, rslora, init, weights, threads, seed, output, device,
        };
        command.SetAction(parse =>
        {
            try
            {
                var family = Formats.HfConfig.Load(parse.GetValue(model)!.FullName).Family;
                var targetList = (parse.GetValue(targets) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                IReadOnlyList<string> chosen = targetList.Length > 0 ? targetList
                    : LoraOptions.AllLinearOf(family);
                var lora = new LoraOptions(parse.GetValue(rank), parse.GetValue(alpha), chosen, 0f, parse.GetValue(rslora));
                var batch = TokenBatch.Load(parse.GetValue(tokens)!.FullName);
                using var backend = BackendFactory.Create(parse.GetValue(device), parse.GetValue(threads), Console.Error.WriteLine);
                var result = DebugStep.Run(backend, parse.GetValue(model)!.FullName, batch, lora, parse.GetValue(init)?.FullName,
                    WeightDTypeOption.Parse(parse.GetValue(weights)), parse.GetValue(seed));
                DebugStep.Save(result, parse.GetValue(output)!.FullName);
                Console.WriteLine($"{{\"loss\": {result.Loss:R}, \"tokens\": {result.ValidTokens}, \"lora_tensors\": {result.Gradients.Count}, \"out\": \"{parse.GetValue(output)!.FullName}\"}}");
                return 0;
            }
            catch (Exception e) when (e is IOException or FormatException or ArgumentException or Formats.SafeTensorsFormatException or ModelConfigException
                or CudaUnavailableException or NotSupportedException)
            {
                Console.Error.WriteLine($"debug-step: {e.Message}");
                return 2;
            }
        });
        return command;
    }
}

internal static class WeightDTypeOption
{
    public static DType? Parse(string? text) => text?.ToLowerInvariant() switch
    {
        null or "" or "auto" => null,
        "fp32" or "f32" or "float32" => DType.F32,
        "bf16" or "bfloat16" => DType.BF16,
        "fp16" or "f16" or "float16" => DType.F16,
        _ => throw new ArgumentException($"--weights must be fp32, bf16 or fp16, not '{text}'"),
    };
}
