using System.CommandLine;
using FineTuneLab.Coordinator.Hosting;
using Microsoft.Extensions.Configuration;

namespace FineTuneLab.Coordinator.Tests.Hosting;

/// <summary>The command line becomes the <c>Coordinator</c> section that <see cref="CoordinatorOptions"/> is bound from.</summary>
public sealed class CoordinatorOptionsTests
{
    private static Dictionary<string, string?> Read(string[] args, out List<string> missing)
    {
        var root = new RootCommand();
        foreach (var (option, _, _) in CommandLineSettings.Flags) root.Options.Add(option);
        return CommandLineSettings.Read(root.Parse(args), out missing);
    }

    private static CoordinatorOptions Bind(Dictionary<string, string?> settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings).Build().GetSection(CoordinatorOptions.Section).Get<CoordinatorOptions>()!;

    [Fact]
    public void Every_flag_keeps_its_name_and_binds_to_its_option()
    {
        var settings = Read(["--data-dir", "data", "--http-url", "http://127.0.0.1:5080", "--grpc-url", "http://127.0.0.1:5081",
            "--api-key", "k", "--agent-token", "j", "--heartbeat-timeout", "2.5", "--max-restarts", "0", "--trainer-command", "ftl-train",
            "--anomaly-policy", "nan_loss=pause", "--failure-rules", "rules.json"], out var missing);
        Assert.Empty(missing);
        var o = Bind(settings);
        Assert.Equal(Path.GetFullPath("data"), o.DataDir);
        Assert.Equal(Path.Combine(Path.GetFullPath("data"), "coordinator.db"), o.DatabasePath);
        Assert.Equal(new Uri("http://127.0.0.1:5080"), o.HttpUrl);
        Assert.Equal(new Uri("http://127.0.0.1:5081"), o.GrpcUrl);
        Assert.Equal(("k", "j", "ftl-train", "nan_loss=pause"), (o.ApiKey, o.AgentToken, o.TrainerCommand, o.AnomalyPolicy));
        Assert.Equal(Path.GetFullPath("rules.json"), o.FailureRulesFile);
        Assert.Equal(TimeSpan.FromSeconds(2.5), o.AgentTimeout);
        Assert.Equal(0, o.RestartCap);
        Assert.True(new CoordinatorOptionsValidator().Validate(null, o).Succeeded);
        // An instance turned into settings binds back to the same options (how tests and the bench build a host).
        var again = Bind(o.ToSettings());
        Assert.Equal((o.DataDir, o.HttpUrl, o.AgentTimeout, o.RestartCap, o.FailureRulesFile), (again.DataDir, again.HttpUrl, again.AgentTimeout, again.RestartCap, again.FailureRulesFile));
    }

    [Fact]
    public void Defaults_and_missing_required_flags()
    {
        Read([], out var missing);
        Assert.Equal(["--data-dir (or FTL_DATA_DIR)", "--http-url (or FTL_HTTP_URL)", "--grpc-url (or FTL_GRPC_URL)"], missing);
        var o = new CoordinatorOptions("d", new Uri("http://127.0.0.1:1"), new Uri("http://127.0.0.1:2"));
        Assert.Equal((TimeSpan.FromSeconds(15), 3), (o.AgentTimeout, o.RestartCap));
    }

    [Theory]
    [InlineData("--max-restarts", "-1", "--max-restarts '-1' is not a non-negative whole number")]
    [InlineData("--max-restarts", "two", "--max-restarts 'two' is not a non-negative whole number")]
    [InlineData("--heartbeat-timeout", "soon", "--heartbeat-timeout 'soon' is not a positive number of seconds")]
    [InlineData("--http-url", "ftp://x", "--http-url 'ftp://x' is not an http:// or https:// URL")]
    public void A_value_of_the_wrong_form_names_its_flag(string flag, string value, string message) =>
        Assert.Equal(message, Assert.Throws<ArgumentException>(() => Read([flag, value], out _)).Message);

    [Fact]
    public void Options_that_cannot_work_together_are_refused_naming_the_flags()
    {
        var o = new CoordinatorOptions("d", new Uri("https://127.0.0.1:1"), new Uri("http://127.0.0.1:2"), AnomalyPolicy: "nan_loss=panic");
        var failures = new CoordinatorOptionsValidator().Validate(null, o).Failures!.ToList();
        Assert.Contains(failures, f => f.Contains("is https but no --tls-cert", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("--anomaly-policy nan_loss", StringComparison.Ordinal));
    }
}
