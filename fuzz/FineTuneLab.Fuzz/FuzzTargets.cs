using System.Text;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Events;
using FineTuneLab.Shared.Protos.Agent.V1;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using FineTuneLab.Trainer.Data;
using FineTuneLab.Trainer.Export;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Jobs;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tokenizers;
using FineTuneLab.Trainer.Tokenizers.Jinja;

namespace FineTuneLab.Fuzz;

/// <summary>Every parser that reads what a user, a model folder or an agent hands us (docs/fuzzing.md).</summary>
public static class FuzzTargets
{
    public static readonly IReadOnlyList<FuzzTarget> All =
    [
        new("safetensors", "a .safetensors file: header JSON, dtypes, shapes and offsets, then every tensor's bytes", (input, scratch) =>
        {
            try
            {
                using var file = SafeTensorFile.Open(scratch.Write("model.safetensors", input));
                foreach (var (name, info) in file.Tensors)
                {
                    _ = file.Bytes(name).Length + info.Shape.Length;
                    if (info.DType is SafeTensorDType.F32 or SafeTensorDType.BF16 or SafeTensorDType.F16) _ = file.ReadFloat32(name);
                }
            }
            catch (SafeTensorsFormatException) { }
        }),
        new("tokenizer-json", "a Hugging Face tokenizer.json, then encoding and decoding a fixed text with it", (input, scratch) =>
        {
            HfTokenizer tokenizer;
            try { tokenizer = HfTokenizer.Load(scratch.Write("tokenizer.json", input)); }
            catch (TokenizerFormatException) { return; }
            var ids = tokenizer.Encode("Hello wörld, 123 — <|im_start|>user\n\tdon't 🤗\n", addSpecialTokens: true);
            _ = tokenizer.Decode(ids, skipSpecialTokens: false);
        }),
        new("chat-template", "a chat template (Jinja): parsed, then rendered with a system, user and assistant turn", (input, scratch) =>
        {
            try
            {
                var template = new ChatTemplate(Encoding.UTF8.GetString(input), new Dictionary<string, string> { ["bos_token"] = "<s>", ["eos_token"] = "</s>" }, "fuzz");
                _ = template.Render([new("system", "Be brief."), new("user", "Hi {{ there }}"), new("assistant", "Hello.")], addGenerationPrompt: true);
            }
            catch (JinjaException) { }
        }),
        new("job-spec", "a job spec (JSON with comments and trailing commas), every field checked", (input, scratch) =>
        {
            try { JobSpecParser.Parse(input, "fuzz.json"); }
            catch (JobSpecException) { }
        }),
        new("hf-config", "a model's config.json", (input, scratch) =>
        {
            try { HfConfig.Parse(Encoding.UTF8.GetString(input)); }
            catch (ModelConfigException) { }
        }),
        new("peft-config", "a PEFT adapter_config.json", (input, scratch) =>
        {
            scratch.Write(PeftAdapterConfig.FileName, input);
            try { PeftAdapterConfig.Load(scratch.Dir); }
            catch (InvalidDataException) { }
        }),
        new("dataset-line", "one JSONL dataset line, in every dataset format", (input, scratch) =>
        {
            foreach (var format in Enum.GetValues<DatasetFormat>())
                new RecordParser(format).Parse(new JsonlLine(1, 0, input), []);
        }),
        new("trainer-event", "one line of a trainer's events.jsonl, as the agent reads it (refusals are answers, never exceptions)", (input, scratch) =>
        {
            if (EventJson.TryParse(Encoding.UTF8.GetString(input), out var e, out _)) _ = EventJson.Serialize(e);
        }),
        new("agent-message", "an agent's protobuf message as the coordinator's gateway reads it: parsed, then its trainer events typed at the edge", (input, scratch) =>
        {
            AgentMessage message;
            try { message = AgentMessage.Parser.ParseFrom(input); }
            catch (InvalidProtocolBufferException) { return; }
            foreach (var e in IncomingEvents.Parse("fuzz-agent", message, NullLogger.Instance)) _ = EventJson.Serialize(e.Body);
        }),
    ];

    public static FuzzTarget Find(string name) => All.FirstOrDefault(t => t.Name == name)
        ?? throw new ArgumentException($"no fuzz target '{name}' (targets: {string.Join(", ", All.Select(t => t.Name))})");
}
