using System.Text;
using FineTuneLab.Trainer.Jobs;

namespace FineTuneLab.Trainer.Tests.Dpo;

public sealed class DpoJobSpecTests
{
    private static JobSpec Parse(string json) => JobSpecParser.Parse(Encoding.UTF8.GetBytes(json), "job.json");

    [Fact]
    public void Qlora_and_dpo_methods_parse_with_their_settings()
    {
        Assert.Equal(TrainingMethod.Qlora, Parse("""{"model": {"path": "m"}, "method": "qlora", "data": {"train": "t"}, "max_steps": 1}""").Method);
        var dpo = Parse("""{"model": {"path": "m"}, "method": "dpo", "dpo": {"beta": 0.25, "quantize_base": true}, "data": {"train": "t", "format": "preference"}, "max_steps": 1}""");
        Assert.Equal(TrainingMethod.Dpo, dpo.Method);
        Assert.Equal(0.25, dpo.Dpo.Beta);
        Assert.True(dpo.Dpo.QuantizeBase);
        var defaults = Parse("""{"model": {"path": "m"}, "method": "dpo", "data": {"train": "t"}, "max_steps": 1}""");
        Assert.Equal(0.1, defaults.Dpo.Beta);
        Assert.False(defaults.Dpo.QuantizeBase);
    }

    [Fact]
    public void Dpo_settings_are_checked_with_their_paths()
    {
        var e = Assert.Throws<JobSpecException>(() => Parse("""
            {"model": {"path": "m"}, "method": "dpo", "dpo": {"beta": 0, "betta": 1}, "data": {"train": "t", "format": "chat"}, "max_steps": 1}
            """));
        var paths = e.Errors.Select(x => x.Path).ToHashSet();
        Assert.Contains("$.dpo.beta", paths);
        Assert.Contains("$.dpo.betta", paths);
        Assert.Contains("$.data.format", paths);
        var misplaced = Assert.Throws<JobSpecException>(() => Parse("""{"model": {"path": "m"}, "dpo": {"beta": 0.2}, "data": {"train": "t"}, "max_steps": 1}"""));
        Assert.Contains(misplaced.Errors, x => x.Path == "$.dpo" && x.Message.Contains("\"method\": \"dpo\""));
    }
}
