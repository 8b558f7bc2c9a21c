using FineTuneLab.Shared.Jobs;

namespace FineTuneLab.Shared.Tests.Jobs;

public class FailureClassifierTests
{
    private readonly FailureClassifier _classifier = new();

    [Theory]
    [InlineData(1, 0, "CUDA out of memory. Tried to allocate 2.00 GiB", "cuda_oom", FailureAction.Fail)]
    [InlineData(1, 0, "CudaException: cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY", "cuda_oom", FailureAction.Fail)]
    [InlineData(1, 0, "loss is NaN at step 120", "nan_divergence", FailureAction.Fail)]
    [InlineData(1, 0, "train.jsonl line 17: bad JSON", "data_error", FailureAction.Fail)]
    [InlineData(2, 0, "job.json: invalid job spec", "config_error", FailureAction.Fail)]
    [InlineData(137, 9, null, "host_oom_killed", FailureAction.Retry)]
    [InlineData(1, 0, "CudaException: CUDA_ERROR_ECC_UNCORRECTABLE", "node_error", FailureAction.Retry)]
    [InlineData(139, 11, "", "crash", FailureAction.Retry)]
    [InlineData(1, 0, "something nobody has seen", "unknown", FailureAction.Fail)]
    public void Built_in_rules_classify_common_failures(int exit, int signal, string? message, string cls, FailureAction action)
    {
        var c = _classifier.Classify(exit, signal, message, null);
        Assert.Equal((cls, action), (c.Class, c.Action));
    }

    [Fact]
    public void Stack_trace_line_numbers_do_not_look_like_data_errors()
    {
        var c = _classifier.Classify(1, 0, "Index was outside the bounds of the array.", "   at Trainer.Step() in /src/Step.cs:line 42");
        Assert.Equal("unknown", c.Class);
    }

    [Fact]
    public void User_rules_come_first_and_load_from_json()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, """
                [ // a flaky shared filesystem on our cluster: retry
                  {"class": "flaky_nfs", "action": "retry", "pattern": "Stale file handle"},
                  {"class": "oom_is_retryable_here", "action": "retry", "pattern": "out of memory", "exit_codes": [1]},
                ]
                """);
            var classifier = new FailureClassifier(FailureClassifier.LoadRules(file));
            Assert.Equal("flaky_nfs", classifier.Classify(1, 0, "IOException: Stale file handle", null).Class);
            Assert.Equal(FailureAction.Retry, classifier.Classify(1, 0, "CUDA out of memory", null).Action);
            Assert.Equal("cuda_oom", classifier.Classify(3, 0, "CUDA out of memory", null).Class);
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void Bad_rule_files_name_the_problem()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, """[{"class": "x", "action": "retry", "pattern": "(unclosed"}]""");
            Assert.Contains("rule [0] pattern", Assert.Throws<InvalidDataException>(() => FailureClassifier.LoadRules(file)).Message);
            File.WriteAllText(file, "[{\"class\": \"x\",\n \"action\": \"sometimes\"}]");
            Assert.Contains("line 2", Assert.Throws<InvalidDataException>(() => FailureClassifier.LoadRules(file)).Message);
        }
        finally { File.Delete(file); }
    }
}
