using System.CommandLine;
using System.Text.Json;
using FineTuneLab.Trainer.Cli.Commands;

namespace FineTuneLab.Trainer.Tests.Data;

/// <summary><c>ftl-train data check</c> wired to the test tokenizer: exit codes, JSON and the human tables.</summary>
public class DataCheckCommandTests : IDisposable
{
    private readonly string _tokenizerDir = Directory.CreateTempSubdirectory("ftl-tok-").FullName;

    public DataCheckCommandTests() =>
        File.WriteAllText(Path.Combine(_tokenizerDir, "tokenizer_config.json"), """{"bos_token": "<s>", "eos_token": "<|im_end|>"}""");

    public void Dispose() => Directory.Delete(_tokenizerDir, recursive: true);

    private async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var root = new RootCommand { DataCheckCommand.Create(_ => WordLevelTestTokenizer.Default(), stdout, stderr) };
        var code = await root.Parse(["data", "check", "--tokenizer", _tokenizerDir, .. args]).InvokeAsync();
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Errors_give_exit_code_1_and_json_lists_them_with_line_numbers()
    {
        using var file = DataTestSupport.WriteLines(
            """{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}""",
            """{"messages": [{"role": "user", "content": "hi"}""",
            """{"messages": [{"role": "user", "content": "hi"}, {"role": "robot", "content": "x"}]}""");
        var (code, output, _) = await Run("--data", file.Path, "--json", "--tokens-per-s", "1000", "--price-per-hour", "2");
        Assert.Equal(1, code);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.Equal(2, root.GetProperty("errorCount").GetInt32());
        Assert.Equal("chat", root.GetProperty("format").GetString());
        var problems = root.GetProperty("problems").EnumerateArray().Select(p => (p.GetProperty("line").GetInt64(), p.GetProperty("kind").GetString())).ToList();
        Assert.Contains((2L, "invalid-json"), problems);
        Assert.Contains((3L, "unknown-role"), problems);
        Assert.True(root.GetProperty("projection").GetProperty("cost").GetDouble() > 0);
    }

    [Fact]
    public async Task A_clean_file_exits_0_and_prints_tables()
    {
        using var file = DataTestSupport.WriteLines(
            """{"prompt": "what is the capital of france?", "completion": " paris"}""",
            """{"prompt": "what is the capital of italy?", "completion": " rome"}""");
        var (code, output, err) = await Run("--data", file.Path, "--format", "prompt-completion", "--max-seq-len", "8");
        Assert.True(code == 0, err + output);
        Assert.Contains("2 valid examples", output);
        Assert.Contains("longer than 8", output);
        Assert.Contains("longer than max-seq-len 8: it would be truncated", output);
        Assert.Contains("warning", output);
    }

    [Fact]
    public async Task Bad_arguments_exit_2()
    {
        Assert.Equal(2, (await Run("--data", "/nonexistent/file.jsonl")).Code);
        using var file = DataTestSupport.WriteLines("{}");
        var (code, _, err) = await Run("--data", file.Path, "--format", "tsv");
        Assert.Equal(2, code);
        Assert.Contains("--format", err);
    }
}
