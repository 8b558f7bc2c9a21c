using System.CommandLine;
using FineTuneLab.Trainer.Quantization;

namespace FineTuneLab.Trainer.Cli.Commands;

/// <summary>ftl-train quantize: a model folder with its transformer-block linear layers in bitsandbytes' NF4 layout.</summary>
internal static class QuantizeCommand
{
    public static Command Create()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "Hugging Face model folder (config.json + *.safetensors)", Required = true };
        var output = new Option<DirectoryInfo>("--out") { Description = "output folder (must not exist or be empty)", Required = true };
        var command = new Command("quantize", "Write a copy of a model with NF4 (double-quantized, bitsandbytes layout) block linear weights") { model, output };
        command.SetAction(parse =>
        {
            try
            {
                var s = QuantizeModel.Run(parse.GetValue(model)!.FullName, parse.GetValue(output)!.FullName);
                Console.WriteLine($"{{\"quantized_tensors\": {s.QuantizedTensors}, \"quantized_parameters\": {s.QuantizedParameters}, " +
                    $"\"other_tensors\": {s.OtherTensors}, \"bits_per_quantized_parameter\": {s.BitsPerQuantizedParameter:F4}, \"out\": \"{s.OutDir}\"}}");
                return 0;
            }
            catch (Exception e) when (e is IOException or ArgumentException or Formats.SafeTensorsFormatException or Models.ModelConfigException)
            {
                Console.Error.WriteLine($"quantize: {e.Message}");
                return 2;
            }
        });
        return command;
    }
}
