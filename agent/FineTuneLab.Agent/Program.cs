using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using FineTuneLab.Agent;
using FineTuneLab.Agent.Session;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Serilog;

// ftl-agent: the worker on a GPU node. Each option may also come from FTL_AGENT_<NAME> or from the --config JSON file
// (keys as the option names without dashes, e.g. {"coordinator": "...", "price_per_hour": 2.4}); the command line wins.
var coordinator = new Option<string>("--coordinator") { Description = "Coordinator gRPC URL, e.g. http://10.0.0.1:8081 (FTL_AGENT_COORDINATOR)" };
var token = new Option<string>("--token") { Description = "Join token (the coordinator's --agent-token) (FTL_AGENT_TOKEN)" };
var dataDir = new Option<string>("--data-dir") { Description = "Folder for the outbox, the artifact cache and job folders (FTL_AGENT_DATA_DIR)" };
var name = new Option<string>("--name") { Description = "Name shown in the coordinator, default the host name (FTL_AGENT_NAME)" };
var provider = new Option<string>("--provider") { Description = "Where this node runs, e.g. local, lambda, runpod (FTL_AGENT_PROVIDER)" };
var price = new Option<string>("--price-per-hour") { Description = "Price of this node in USD per hour (FTL_AGENT_PRICE_PER_HOUR)" };
var device = new Option<string>("--device") { Description = "auto, cuda or cpu (FTL_AGENT_DEVICE)" };
var trainer = new Option<string>("--trainer-command") { Description = "How to run ftl-train, default the ftl-train built beside the agent (FTL_AGENT_TRAINER_COMMAND)" };
var idleAfter = new Option<string>("--idle-shutdown-after") { Description = "Run --idle-shutdown-command after no job for this long, e.g. 30m, 1h, 90s (FTL_AGENT_IDLE_SHUTDOWN_AFTER)" };
var idleCommand = new Option<string>("--idle-shutdown-command") { Description = "Shell command that stops this node, e.g. \"sudo shutdown -h now\" (FTL_AGENT_IDLE_SHUTDOWN_COMMAND)" };
var config = new Option<string>("--config") { Description = "Optional JSON config file (FTL_AGENT_CONFIG)" };

var root = new RootCommand("FineTuneLab agent: runs fine-tuning jobs on this node for a coordinator")
{
    coordinator, token, dataDir, name, provider, price, device, trainer, idleAfter, idleCommand, config,
};

root.SetAction(async parseResult =>
{
    Log.Logger = new LoggerConfiguration()
        .MinimumLevel.Information()
        .MinimumLevel.Override("Microsoft", Serilog.Events.LogEventLevel.Warning)
        .WriteTo.Console(outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} ftl-agent: {Message:lj}{NewLine}{Exception}", standardErrorFromLevel: Serilog.Events.LogEventLevel.Verbose)
        .CreateLogger();
    try
    {
        var file = parseResult.GetValue(config) ?? Environment.GetEnvironmentVariable("FTL_AGENT_CONFIG");
        var fromFile = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (file is not null)
        {
            try
            {
                foreach (var p in JsonDocument.Parse(File.ReadAllText(file)).RootElement.EnumerateObject())
                    fromFile[p.Name.Replace("-", "_")] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText();
            }
            catch (Exception e) when (e is JsonException or IOException)
            {
                throw new ArgumentException($"--config {file}: {e.Message}");
            }
        }
        string? Get(Option<string> option)
        {
            var key = option.Name.TrimStart('-').Replace('-', '_');
            return parseResult.GetValue(option) ?? Environment.GetEnvironmentVariable("FTL_AGENT_" + key.ToUpperInvariant())
                ?? fromFile.GetValueOrDefault(key);
        }
        var missing = new[] { coordinator, token, dataDir }.Where(o => Get(o) is null).Select(o => o.Name).ToList();
        if (missing.Count > 0)
        {
            Log.Fatal("missing required option(s): {Missing} (or FTL_AGENT_* variables, or --config)", string.Join(", ", missing));
            return 2;
        }
        var deviceValue = Get(device) ?? "auto";
        if (deviceValue is not ("auto" or "cuda" or "cpu")) throw new ArgumentException($"--device '{deviceValue}' must be auto, cuda or cpu");
        var priceText = Get(price) ?? "0";
        if (!double.TryParse(priceText, NumberStyles.Float, CultureInfo.InvariantCulture, out var priceValue) || priceValue < 0)
            throw new ArgumentException($"--price-per-hour '{priceText}' is not a non-negative number");
        var url = Get(coordinator)!;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new ArgumentException($"--coordinator '{url}' is not an http:// or https:// URL");

        var idleAfterText = Get(idleAfter);
        var idleCommandText = Get(idleCommand);
        if ((idleAfterText is null) != (idleCommandText is null))
            throw new ArgumentException("--idle-shutdown-after and --idle-shutdown-command go together: give both or neither");
        var idleAfterValue = idleAfterText is null ? (TimeSpan?)null : FineTuneLab.Agent.Node.IdleShutdown.ParseDuration(idleAfterText, "--idle-shutdown-after");

        var options = new AgentOptions(uri, Get(token)!, Path.GetFullPath(Get(dataDir)!), Get(name) ?? Environment.MachineName,
            Get(provider) ?? "local", priceValue, deviceValue, AgentOptions.ResolveTrainer(Get(trainer)), idleAfterValue, idleCommandText);

        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSerilog(Log.Logger);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        builder.Services.AddSingleton(options);
        builder.Services.AddHostedService<AgentService>();
        using var host = builder.Build();
        await host.RunAsync();
        return 0;
    }
    catch (Exception e) when (e is ArgumentException or InvalidOperationException)
    {
        Log.Fatal("{Message}", e.Message);
        return 2;
    }
    finally
    {
        await Log.CloseAndFlushAsync();
    }
});

return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
