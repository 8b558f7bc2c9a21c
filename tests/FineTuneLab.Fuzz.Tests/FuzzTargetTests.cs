using System.Text;
using System.Text.RegularExpressions;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Events;
using FineTuneLab.Shared.Protos.Agent.V1;
using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Export;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Jobs;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tokenizers;

namespace FineTuneLab.Fuzz.Tests;

/// <summary>
/// The fuzz targets (docs/fuzzing.md) as regression tests: every seed and every input a fuzzer once crashed on goes
/// through its target in this process, each finding keeps the refusal it got when it was fixed, and afl-fuzz runs each
/// target briefly over the instrumented assemblies so that a new crash near the seeds fails CI.
/// </summary>
public sealed class FuzzTargetTests
{
    private static string Corpus(string target) => Path.Combine(RepoPaths.Root, "fuzz", "corpus", target);
    private static string Regressions(string target) => Path.Combine(RepoPaths.Root, "fuzz", "regressions", target);

    public static TheoryData<string> Targets() => [.. FuzzTargets.All.Select(t => t.Name)];

    [Theory]
    [MemberData(nameof(Targets))]
    public void Every_seed_and_every_past_finding_goes_through_its_target(string name)
    {
        var target = FuzzTargets.Find(name);
        var inputs = Directory.GetFiles(Corpus(name))
            .Concat(Directory.Exists(Regressions(name)) ? Directory.GetFiles(Regressions(name)) : []).ToList();
        Assert.NotEmpty(Directory.GetFiles(Corpus(name)));
        using var scratch = new Scratch();
        foreach (var input in inputs)
        {
            var e = Record.Exception(() => target.Run(File.ReadAllBytes(input), scratch));
            Assert.True(e is null, $"{name} let {e?.GetType().Name} escape on {input}: {e}");
        }
    }

    /// <summary>A target that refused every seed would fuzz nothing but its first check: the seeds reach the parsers' far ends.</summary>
    [Fact]
    public void The_seeds_are_accepted_by_their_parsers()
    {
        byte[] Seed(string target, string file) => File.ReadAllBytes(Path.Combine(Corpus(target), file));
        var dir = Directory.CreateTempSubdirectory("ftl-fuzz-seeds-").FullName;
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "m.safetensors"), Seed("safetensors", "two-tensors.safetensors"));
            using (var file = SafeTensorFile.Open(Path.Combine(dir, "m.safetensors"))) Assert.Equal(2, file.Tensors.Count);
            File.WriteAllBytes(Path.Combine(dir, "tokenizer.json"), Seed("tokenizer-json", "tiny-cut.json"));
            Assert.NotEmpty(HfTokenizer.Load(Path.Combine(dir, "tokenizer.json")).Encode("Hello world"));
            File.WriteAllBytes(Path.Combine(dir, PeftAdapterConfig.FileName), Seed("peft-config", "adapter_config.json"));
            Assert.Equal(8, PeftAdapterConfig.Load(dir).Rank);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
        foreach (var f in Directory.GetFiles(Corpus("job-spec"))) JobSpecParser.Parse(File.ReadAllBytes(f));
        foreach (var f in Directory.GetFiles(Corpus("hf-config"))) HfConfig.Parse(File.ReadAllText(f));
        foreach (var f in Directory.GetFiles(Corpus("trainer-event")))
            Assert.True(EventJson.TryParse(File.ReadAllText(f), out _, out var why), $"{f}: {why}");
        var message = AgentMessage.Parser.ParseFrom(Seed("agent-message", "telemetry-events.bin"));
        Assert.Equal(["step", "checkpoint", "done"],
            IncomingEvents.Parse("seed", message, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance).Select(e => e.Type));
    }

    [Fact]
    public void Each_finding_is_refused_with_what_and_where()
    {
        var spec = Assert.Throws<JobSpecException>(() => JobSpecParser.Parse(File.ReadAllBytes(Path.Combine(Regressions("job-spec"), "invalid-utf8-1.json"))));
        Assert.Matches(new Regex(@"line \d+, column \d+: \$: not valid UTF-8 \(byte 0x[0-9A-F]{2} at offset \d+\)"), spec.Message);

        var config = Assert.Throws<ModelConfigException>(() => HfConfig.Parse(File.ReadAllText(Path.Combine(Regressions("hf-config"), "zero-heads.json"))));
        Assert.Contains("head counts must be positive", config.Message);

        var dir = Directory.CreateTempSubdirectory("ftl-fuzz-findings-").FullName;
        try
        {
            var safetensors = Path.Combine(dir, "m.safetensors");
            File.Copy(Path.Combine(Regressions("safetensors"), "invalid-utf8-1"), safetensors);
            Assert.Contains("the header is not valid UTF-8: byte 0x", Assert.Throws<SafeTensorsFormatException>(() => SafeTensorFile.Open(safetensors)).Message);

            var tokenizer = Path.Combine(dir, "tokenizer.json");
            File.Copy(Path.Combine(Regressions("tokenizer-json"), "invalid-utf8-1"), tokenizer);
            Assert.Contains("not valid UTF-8: byte 0x", Assert.Throws<TokenizerFormatException>(() => HfTokenizer.Load(tokenizer)).Message);

            File.Copy(Path.Combine(Regressions("peft-config"), "duplicate-field.json"), Path.Combine(dir, PeftAdapterConfig.FileName));
            Assert.Contains("a field is given twice", Assert.Throws<InvalidDataException>(() => PeftAdapterConfig.Load(dir)).Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>With afl's choices fixed by a seed, so that CI fails on a change that brings a crash, not on luck.</summary>
    [Fact]
    public async Task Afl_fuzz_finds_no_crash_or_hang_in_a_short_run_of_every_target()
    {
        const int execs = 2000;
        var r = await ExternalProcess.RunAsync(Path.Combine(RepoPaths.Scripts, "fuzz"), ["all", "--execs", execs.ToString(), "--seed", "1"], RepoPaths.Root,
            environment: new Dictionary<string, string> { ["FTL_FUZZ_NO_BUILD"] = "1" },
            timeout: TimeSpan.FromMinutes(8));
        Assert.True(r.ExitCode == 0, $"scripts/fuzz all exited {r.ExitCode}:\n{r.StdOut}\n{r.StdErr}");
        var lines = r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var target in FuzzTargets.All)
        {
            var line = Assert.Single(lines, l => l.StartsWith(target.Name + ":", StringComparison.Ordinal));
            var m = Regex.Match(line, @": (\d+) executions .* (\d+) crashes, (\d+) hangs");
            Assert.True(m.Success, line);
            Assert.True(long.Parse(m.Groups[1].Value) >= execs, line);
            Assert.Equal(("0", "0"), (m.Groups[2].Value, m.Groups[3].Value));
        }
    }
}
