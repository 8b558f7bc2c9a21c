using System.CommandLine;
using FineTuneLab.Trainer.Export;

namespace FineTuneLab.Trainer.Cli.Commands;

/// <summary>ftl-train export: a normalised PEFT adapter folder, or (--merged) the base model with the adapter folded in.</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "base Hugging Face model folder", Required = true };
        var adapter = new Option<DirectoryInfo>("--adapter") { Description = "PEFT LoRA adapter folder", Required = true };
        var output = new Option<DirectoryInfo>("--out") { Description = "output folder (replaced atomically)", Required = true };
        var merged = new Option<bool>("--merged") { Description = "write the merged model (W + scale·B·A) as a Hugging Face folder" };
        var command = new Command("export", "Export a LoRA adapter (PEFT layout) or a merged model") { model, adapter, output, merged };
        command.SetAction(parse =>
        {
            try
            {
                var m = parse.GetValue(model)!.FullName;
                var a = parse.GetValue(adapter)!.FullName;
                var o = parse.GetValue(output)!.FullName;
                if (parse.GetValue(merged)) MergedModelExporter.Export(m, a, o);
                else AdapterExporter.Export(m, a, o);
                Console.WriteLine($"{{\"out\": {System.Text.Json.JsonSerializer.Serialize(o)}, \"merged\": {(parse.GetValue(merged) ? "true" : "false")}}}");
                return 0;
            }
            catch (Exception e) when (e is IOException or InvalidDataException or FormatException or ArgumentException
                or Formats.SafeTensorsFormatException or Models.ModelConfigException)
            {
                Console.Error.WriteLine($"export: {e.Message}");
                return 2;
            }
        });
        return command;
    }
}
