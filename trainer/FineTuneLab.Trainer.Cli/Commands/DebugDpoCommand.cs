using System.CommandLine;
using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Training.Dpo;

namespace FineTuneLab.Trainer.Cli.Commands;

/// <summary>
/// ftl-train debug-dpo: the DPO loss of given preference pairs (reference = the base model with the adapter off) and
/// its LoRA gradients; writes loss, metrics and gradients (PEFT key names) to a safetensors file.
/// </summary>
internal static class DebugDpoCommand
{
    public static Command Create()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "Hugging Face model folder (config.json + *.safetensors)", Required = true };
        var pairs = new Option<FileInfo>("--pairs") { Description = "JSON {\"pairs\": [{\"chosen_ids\", \"chosen_labels\", \"rejected_ids\", \"rejected_labels\"}, ...]} (labels unshifted, -100 on the prompt)", Required = true };
        var rank = new Option<int>("--lora-r") { Description = "LoRA rank", Required = true };
        var alpha = new Option<double>("--lora-alpha") { Description = "LoRA alpha (scale = alpha / r)", Required = true };
        var targets = new Option<string>("--targets") { Description = "comma-separated target modules (default: all Llama projections)", DefaultValueFactory = _ => "" };
        var init = new Option<FileInfo?>("--lora-init") { Description = "safetensors with PEFT-named lora_A / lora_B (default: PEFT init, B = 0)" };
        var beta = new Option<float>("--beta") { Description = "DPO beta", DefaultValueFactory = _ => 0.1f };
        var qlora = new Option<bool>("--qlora") { Description = "hold the block linear weights in NF4" };
        var weights = new Option<string?>("--weights") { Description = "keep frozen weights as fp32, bf16 or fp16 (default: as stored)" };
        var batch = new Option<int>("--batch-pairs") { Description = "pairs per right-padded batch of the forward-only evaluation", DefaultValueFactory = _ => 1 };
        var threads = new Option<int?>("--threads") { Description = "CPU threads (default: all cores)" };
        var output = new Option<FileInfo>("--out") { Description = "output .safetensors", Required = true };
        var command = new Command("debug-dpo", "DPO loss, metrics and LoRA gradients (PEFT names) of given preference pairs")
        {
            model, pairs, rank, alpha, targets, init, beta, qlora, weights, batch, threads, output,
        };
        command.SetAction(parse =>
        {
            try
            {
                var targetList = (parse.GetValue(targets) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                var family = Formats.HfConfig.Load(parse.GetValue(model)!.FullName).Family;
                var lora = new LoraOptions(parse.GetValue(rank), parse.GetValue(alpha), targetList.Length > 0 ? targetList : LoraOptions.AllLinearOf(family));
                var b = parse.GetValue(beta);
                if (!(b > 0)) throw new ArgumentException($"--beta must be positive, got {b}");
                var list = DpoPair.LoadJson(parse.GetValue(pairs)!.FullName);
                using var backend = BackendFactory.Cpu(parse.GetValue(threads));
                var r = DebugDpo.Run(backend, parse.GetValue(model)!.FullName, list, lora, b, parse.GetValue(init)?.FullName,
                    WeightDTypeOption.Parse(parse.GetValue(weights)), parse.GetValue(qlora), batchPairs: parse.GetValue(batch));
                DebugDpo.Save(r, parse.GetValue(output)!.FullName);
                var m = r.Metrics;
                Console.WriteLine($"{{\"loss\": {m.Loss:R}, \"reward_margin\": {m.RewardMargin:R}, \"accuracy\": {m.Accuracy:R}, " +
                    $"\"chosen_reward\": {m.ChosenReward:R}, \"rejected_reward\": {m.RejectedReward:R}, \"pairs\": {m.Pairs}, \"lora_tensors\": {r.Gradients.Count}, " +
                    $"\"evaluation\": {{\"loss\": {r.Evaluation.Loss:R}, \"reward_margin\": {r.Evaluation.RewardMargin:R}, \"accuracy\": {r.Evaluation.Accuracy:R}, " +
                    $"\"chosen_reward\": {r.Evaluation.ChosenReward:R}, \"rejected_reward\": {r.Evaluation.RejectedReward:R}}}}}");
                return 0;
            }
            catch (Exception e) when (e is IOException or FormatException or ArgumentException or Formats.SafeTensorsFormatException or ModelConfigException)
            {
                Console.Error.WriteLine($"debug-dpo: {e.Message}");
                return 2;
            }
        });
        return command;
    }
}
