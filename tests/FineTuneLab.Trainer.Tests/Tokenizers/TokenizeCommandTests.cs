using FineTuneLab.TestSupport;

namespace FineTuneLab.Trainer.Tests.Tokenizers;

/// <summary>`ftl-train tokenize` prints, for the corpus, exactly HF's expected ids (and BOS with --special).</summary>
public sealed class TokenizeCommandTests
{
    private static string FtlTrain => Path.Combine(AppContext.BaseDirectory, "ftl-train.dll");

    [Fact]
    public async Task PrintsHuggingFaceIdsForEveryCorpusItem()
    {
        var result = await ExternalProcess.RunAsync("dotnet", [FtlTrain, "tokenize", "--tokenizer", Path.Combine(TokenizerFixtures.Dir, "gpt4o"),
            "--input", Path.Combine(TokenizerFixtures.Dir, "dev.txt")]);
        result.EnsureSuccess("ftl-train tokenize");
        var expected = await File.ReadAllTextAsync(Path.Combine(TokenizerFixtures.Dir, "expected", "gpt4o.dev.jsonl"));
        Assert.Equal(expected, result.StdOut);
    }

    [Fact]
    public async Task SpecialAddsTheTemplateTokens()
    {
        var input = Path.Combine(RepoPaths.Cache, "tokenize-command-input.txt");
        await File.WriteAllTextAsync(input, "Hello world\nline\\nbreak\n");
        var result = await ExternalProcess.RunAsync("dotnet", [FtlTrain, "tokenize", "--tokenizer", TokenizerFixtures.TokenizerJson("llama2"),
            "--input", input, "--special"]);
        result.EnsureSuccess("ftl-train tokenize --special");
        var lines = result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var tokenizer = TokenizerFixtures.Get("llama2");
        Assert.Equal($"[{string.Join(",", tokenizer.Encode("Hello world", true))}]", lines[0]);
        Assert.Equal($"[{string.Join(",", tokenizer.Encode("line\nbreak", true))}]", lines[1]);
        Assert.StartsWith("[1,", lines[0]);
    }

    [Fact]
    public async Task ABrokenTokenizerFileIsAClearError()
    {
        var bad = Path.Combine(RepoPaths.Cache, "tokenize-command-bad.json");
        await File.WriteAllTextAsync(bad, """{"model": {"type": "Unigram", "vocab": []}}""");
        var result = await ExternalProcess.RunAsync("dotnet", [FtlTrain, "tokenize", "--tokenizer", bad, "--input", bad]);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("$.model", result.StdErr);
    }
}
