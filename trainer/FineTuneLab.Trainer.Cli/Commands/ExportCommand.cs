using System.CommandLine;
using System.Text.Json;
using FineTuneLab.Trainer.Export;
using FineTuneLab.Trainer.Export.Gguf;

namespace FineTuneLab.Trainer.Cli.Commands;

/// <summary>
/// ftl-train export: a LoRA adapter as a normalised PEFT folder (<c>--format peft</c>), the base model with it merged
/// as a Hugging Face folder (<c>merged</c>) or one GGUF file with an Ollama Modelfile (<c>gguf</c>, <c>--quant</c>), or
/// the adapter alone as a llama.cpp LoRA GGUF (<c>gguf-lora</c>). A QLoRA adapter merges into the NF4-rounded base.
/// </summary>
internal static class ExportCommand
{
    public const string LoraGgufFileName = "adapter.gguf";

    public static Command Create()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "base Hugging Face model folder", Required = true };
        var adapter = new Option<DirectoryInfo?>("--adapter") { Description = "PEFT LoRA adapter folder (optional for --format gguf: the base model alone)" };
        var output = new Option<DirectoryInfo>("--out") { Description = "output folder (replaced atomically)", Required = true };
        var format = new Option<string>("--format")
        {
            Description = "peft (normalised adapter folder), merged (Hugging Face folder), gguf (model-QUANT.gguf + Modelfile), gguf-lora (adapter.gguf for llama.cpp)",
            DefaultValueFactory = _ => "peft",
        };
        format.AcceptOnlyFromAmong("peft", "merged", "gguf", "gguf-lora");
        var quant = new Option<string>("--quant") { Description = $"GGUF tensor encoding: {string.Join(", ", GgufQuantNames.All)}", DefaultValueFactory = _ => "f16" };
        var baseWeights = new Option<string?>("--base-weights")
        {
            Description = "what the adapter trained against: nf4 (QLoRA) or stored; default: nf4 when the adapter folder has base_quantization.json or the base is bitsandbytes NF4",
        };
        var command = new Command("export", "Export a LoRA adapter (PEFT or llama.cpp LoRA GGUF) or the merged model (Hugging Face folder or GGUF)")
        {
            model, adapter, output, format, quant, baseWeights,
        };
        command.SetAction(parse =>
        {
            try
            {
                var m = parse.GetValue(model)!.FullName;
                var a = parse.GetValue(adapter)?.FullName;
                var o = parse.GetValue(output)!.FullName;
                var f = parse.GetValue(format)!;
                BaseWeights? bw = parse.GetValue(baseWeights) switch
                {
                    null => null,
                    "nf4" => BaseWeights.Nf4,
                    "stored" => BaseWeights.AsStored,
                    var other => throw new ArgumentException($"--base-weights must be nf4 or stored, not '{other}'"),
                };
                if (a is null && f != "gguf") throw new ArgumentException($"--format {f} needs --adapter");
                object report;
                switch (f)
                {
                    case "peft":
                        AdapterExporter.Export(m, a!, o);
                        report = new { @out = o, format = f };
                        break;
                    case "merged":
                        MergedModelExporter.Export(m, a!, o, bw);
                        report = new { @out = o, format = f };
                        break;
                    case "gguf":
                        var q = GgufQuantNames.Parse(parse.GetValue(quant)!);
                        var r = GgufPackage.Write(m, a, o, q, bw);
                        report = new
                        {
                            @out = o, format = f, file = r.Path, modelfile = Path.Combine(o, OllamaModelfile.FileName), architecture = r.Architecture,
                            quant = q.Name(), pre_tokenizer = r.PreTokenizer, tensors = r.Tensors, tensor_types = r.TensorTypes,
                        };
                        break;
                    default:
                        Directory.CreateDirectory(o);
                        var lr = GgufLoraExporter.Export(m, a!, Path.Combine(o, LoraGgufFileName));
                        report = new { @out = o, format = f, file = lr.Path, architecture = lr.Architecture, modules = lr.Modules, alpha = lr.Alpha };
                        break;
                }
                Console.WriteLine(JsonSerializer.Serialize(report));
                return 0;
            }
            catch (Exception e) when (e is IOException or InvalidDataException or FormatException or ArgumentException or NotSupportedException
                or Formats.SafeTensorsFormatException or Models.ModelConfigException or Tokenizers.TokenizerFormatException)
            {
                Console.Error.WriteLine($"export: {e.Message}");
                return 2;
            }
        });
        return command;
    }
}
