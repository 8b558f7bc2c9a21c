using System.CommandLine;
using System.Text.Json;
using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Inference;
using FineTuneLab.Trainer.Tokenizers;
using FineTuneLab.Trainer.Tokenizers.Jinja;

namespace FineTuneLab.Trainer.Cli.Commands;

/// <summary>
/// ftl-train generate: text from a base model, or base + LoRA adapter (unmerged), with a KV cache, HF sampling, stop
/// strings and EOS; streams the text to stdout (or prints one JSON object with --json).
/// </summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "Hugging Face model folder (config.json, *.safetensors, tokenizer.json)", Required = true };
        var adapter = new Option<DirectoryInfo?>("--adapter") { Description = "PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors)" };
        var prompt = new Option<string?>("--prompt") { Description = "prompt text (sent as one user message through the chat template unless --no-chat-template)" };
        var chat = new Option<FileInfo?>("--chat") { Description = "JSON file with a list of {role, content} messages" };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "most tokens to generate", DefaultValueFactory = _ => 128 };
        var temperature = new Option<float>("--temperature") { Description = "0 = greedy", DefaultValueFactory = _ => 0f };
        var topP = new Option<float>("--top-p") { Description = "nucleus sampling threshold (1 = off)", DefaultValueFactory = _ => 1f };
        var topK = new Option<int>("--top-k") { Description = "keep the k most likely tokens (0 = off)", DefaultValueFactory = _ => 0 };
        var penalty = new Option<float>("--repetition-penalty") { Description = "HF repetition penalty (1 = off)", DefaultValueFactory = _ => 1f };
        var stop = new Option<string[]>("--stop") { Description = "stop string (repeatable)", AllowMultipleArgumentsPerToken = true };
        var seed = new Option<ulong>("--seed") { Description = "sampling seed", DefaultValueFactory = _ => 0UL };
        var noTemplate = new Option<bool>("--no-chat-template") { Description = "tokenize --prompt as raw text" };
        var noCache = new Option<bool>("--no-kv-cache") { Description = "recompute the whole sequence for every token (slow; for comparison)" };
        var threads = new Option<int?>("--threads") { Description = "CPU threads (default: all cores)" };
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of streaming text" };
        var command = new Command("generate", "Generate text with a model, optionally with a LoRA adapter")
        {
            model, adapter, prompt, chat, maxNew, temperature, topP, topK, penalty, stop, seed, noTemplate, noCache, threads, json,
        };
        command.SetAction((parse, ct) =>
        {
            try
            {
                var modelDir = parse.GetValue(model)!.FullName;
                var promptText = parse.GetValue(prompt);
                var chatFile = parse.GetValue(chat);
                if ((promptText is null) == (chatFile is null)) throw new ArgumentException("give exactly one of --prompt and --chat");
                var tokenizer = HfTokenizer.Load(modelDir);
                int[] ids = chatFile is not null
                    ? PromptBuilder.Chat(modelDir, tokenizer, PromptBuilder.ReadMessages(chatFile.FullName))
                    : parse.GetValue(noTemplate) ? PromptBuilder.Raw(tokenizer, promptText!)
                    : PromptBuilder.Chat(modelDir, tokenizer, [new ChatMessage("user", promptText!)]);
                var options = new GenerationOptions
                {
                    MaxNewTokens = parse.GetValue(maxNew),
                    Sampling = new SamplingOptions
                    {
                        Temperature = parse.GetValue(temperature), TopK = parse.GetValue(topK), TopP = parse.GetValue(topP),
                        RepetitionPenalty = parse.GetValue(penalty), Seed = parse.GetValue(seed),
                    },
                    StopStrings = parse.GetValue(stop) ?? [],
                    StopTokenIds = PromptBuilder.StopTokenIds(modelDir, tokenizer),
                };
                options.Sampling.Validate();
                var config = Formats.HfConfig.Load(modelDir);
                int maxLength = ids.Length + Math.Max(options.MaxNewTokens, 1);
                if (config.LearnedPositions) maxLength = Math.Min(maxLength, config.MaxPositionEmbeddings);
                using var backend = BackendFactory.Cpu(parse.GetValue(threads));
                bool useCache = !parse.GetValue(noCache);
                using var m = InferenceModel.Load(modelDir, parse.GetValue(adapter)?.FullName, backend, maxLength, forwardTokens: useCache ? 1 : null);
                using IDecoder decoder = useCache ? new CachedDecoder(m, maxLength) : new FullForwardDecoder(m);
                bool asJson = parse.GetValue(json);
                var result = new TextGenerator(decoder, tokenizer).Generate(ids, options,
                    asJson ? null : text => { Console.Out.Write(text); Console.Out.Flush(); }, ct);
                if (asJson)
                {
                    Console.WriteLine(JsonSerializer.Serialize(new
                    {
                        text = result.Text,
                        prompt_tokens = result.PromptIds.Length,
                        new_tokens = result.NewIds.Length,
                        token_ids = result.NewIds,
                        finish_reason = result.FinishReason,
                        kv_cache = !parse.GetValue(noCache),
                        prefill_seconds = result.PrefillSeconds,
                        decode_seconds = result.DecodeSeconds,
                        decode_tokens_per_second = result.DecodeTokensPerSecond,
                    }));
                }
                else
                {
                    Console.WriteLine();
                    Console.Error.WriteLine($"[{result.NewIds.Length} tokens, {result.FinishReason}, prefill {result.PrefillSeconds:F3} s, {result.DecodeTokensPerSecond:F1} tokens/s]");
                }
                return Task.FromResult(0);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or FormatException or ArgumentException
                or Formats.SafeTensorsFormatException or Models.ModelConfigException or InvalidOperationException)
            {
                Console.Error.WriteLine($"generate: {e.Message}");
                return Task.FromResult(2);
            }
        });
        return command;
    }
}
