using System.CommandLine;
using System.Net;
using System.Text.Json.Nodes;
using FineTuneLab.Cli.Output;
using static FineTuneLab.Cli.Commands.CommandSupport;

namespace FineTuneLab.Cli.Commands;

/// <summary>
/// <c>ftl download gguf JOB [--quant Q] [--lora]</c>: the fine-tuned model as one GGUF for llama.cpp and Ollama, with
/// its Modelfile, into a folder. The coordinator builds it on the first request (202 until ready): ftl waits, then
/// saves the file checked against the SHA-256 the coordinator stores it under.
/// </summary>
public static class GgufDownload
{
    public static Command Create()
    {
        var (job, output, json) = (JobArgument(), DownloadCommand.OutputOption(), JsonOption());
        output.Description = "Folder to write into (default ./JOB-gguf); the GGUF keeps the name its Modelfile's FROM line gives it";
        var quant = new Option<string>("--quant") { Description = "Tensor encoding: f32, f16, bf16, q8_0, q4_k_m", DefaultValueFactory = _ => "f16" };
        quant.AcceptOnlyFromAmong("f32", "f16", "bf16", "q8_0", "q4_k_m");
        var lora = new Option<bool>("--lora") { Description = "The adapter alone, as a llama.cpp LoRA GGUF (llama-cli --lora), instead of the merged model" };
        var wait = new Option<TimeSpan>("--wait") { Description = "How long to wait for the build (default 02:00:00)", DefaultValueFactory = _ => TimeSpan.FromHours(2) };
        var command = new Command("gguf", "The fine-tuned model as GGUF with its Ollama Modelfile (built on the coordinator on first request)")
            { job, quant, lora, output, wait, json };
        command.SetClientAction(async (parse, client, ct) =>
        {
            var id = parse.GetValue(job)!;
            var q = parse.GetValue(quant)!;
            var format = parse.GetValue(lora) ? "gguf-lora" : "gguf";
            var folder = parse.GetValue(output) ?? $"{id}-gguf";
            Directory.CreateDirectory(folder);
            var path = JobPath(id, "/export") + Query(("format", format), ("quant", q));
            var deadline = DateTime.UtcNow + parse.GetValue(wait);
            var told = false;
            while (true)
            {
                using var response = await client.OpenAsync(path, ct);
                if (response.StatusCode != HttpStatusCode.Accepted)
                {
                    var name = response.Content.Headers.ContentDisposition?.FileNameStar ?? response.Content.Headers.ContentDisposition?.FileName?.Trim('"') ?? "model.gguf";
                    var saved = await DownloadCommand.SaveAsync(response, path, Path.Combine(folder, Path.GetFileName(name)), null, ct);
                    if (format == "gguf")
                        await DownloadCommand.SaveAsync(client, JobPath(id, "/export/modelfile") + Query(("quant", q)), Path.Combine(folder, "Modelfile"), null, ct);
                    if (!parse.GetValue(json))
                        Terminal.Line(format == "gguf" ? $"ollama: cd {folder} && ollama create {id} -f Modelfile   llama.cpp: llama-cli -m {saved.Path}" : $"llama.cpp: llama-cli -m BASE.gguf --lora {saved.Path}");
                    return DownloadCommand.Report(saved, parse.GetValue(json), "the SHA-256 the coordinator stores it under");
                }
                var retry = Format.Num((await Api.CoordinatorClient.ReadJsonAsync(response, ct))["retry_after_s"]) ?? 5;
                if (DateTime.UtcNow > deadline) throw new CliFailure($"the {format} {q} export of {id} is still being built after {parse.GetValue(wait)}; try again later");
                if (!told && !parse.GetValue(json)) Terminal.Line($"the coordinator is building the {format} {q} file of {id}; waiting (Ctrl-C is safe: the build goes on)");
                told = true;
                await Task.Delay(TimeSpan.FromSeconds(retry), ct);
            }
        });
        return command;
    }
}
