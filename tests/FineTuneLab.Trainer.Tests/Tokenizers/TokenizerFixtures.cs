using System.Collections.Concurrent;
using System.Text.Json;
using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Tokenizers;

namespace FineTuneLab.Trainer.Tests.Tokenizers;

/// <summary>The shared tokenizer test data, loaded once per test run.</summary>
internal static class TokenizerFixtures
{
    public static readonly string[] Families = ["llama2", "gemma3", "llama3", "qwen3", "gpt4o"];

    private static readonly ConcurrentDictionary<string, Lazy<HfTokenizer>> Tokenizers = new();
    private static readonly Lazy<List<string>> Corpus = new(() => TokenizerCorpus.ReadItems(Path.Combine(Dir, "dev.txt")));

    public static string Dir => Path.Combine(RepoPaths.SharedTestData, "tokenizers");

    public static string TokenizerJson(string family) => Path.Combine(Dir, family, "tokenizer.json");

    public static HfTokenizer Get(string family) =>
        Tokenizers.GetOrAdd(family, f => new Lazy<HfTokenizer>(() => HfTokenizer.Load(Path.Combine(Dir, f)))).Value;

    public static List<string> DevItems => Corpus.Value;

    public static List<int[]> Expected(string family) =>
        File.ReadLines(Path.Combine(Dir, "expected", $"{family}.dev.jsonl"))
            .Select(l => JsonSerializer.Deserialize<int[]>(l) ?? throw new InvalidDataException("null line")).ToList();
}
