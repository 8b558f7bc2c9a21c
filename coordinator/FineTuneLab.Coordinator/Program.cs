using System.CommandLine;
using FineTuneLab.Coordinator;
using FineTuneLab.Coordinator.Hosting;
using Serilog;

// ftl-coordinator: the REST API + gRPC endpoint for agents. Every flag may also come from an FTL_* environment
// variable; both become the configuration section that CoordinatorOptions is bound from.
var root = new RootCommand("FineTuneLab coordinator: REST API, dashboard and the gRPC endpoint agents connect to");
foreach (var (option, _, _) in CommandLineSettings.Flags) root.Options.Add(option);

root.SetAction(async parseResult =>
{
    Log.Logger = new LoggerConfiguration()
        .MinimumLevel.Information()
        .MinimumLevel.Override("Microsoft.AspNetCore", Serilog.Events.LogEventLevel.Warning)
        .WriteTo.Console(outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} {SourceContext}: {Message:lj}{NewLine}{Exception}")
        .CreateLogger();
    var log = Log.ForContext("SourceContext", "ftl-coordinator");
    try
    {
        var settings = CommandLineSettings.Read(parseResult, out var missing);
        if (missing.Count > 0)
        {
            log.Fatal("missing required option(s): {Missing}", string.Join(", ", missing));
            return 2;
        }
        await using var host = CoordinatorHost.Create(settings, Log.Logger);
        await host.StartAsync();
        // Ctrl-C and SIGTERM stop the host gracefully (health turns NOT_SERVING first); that is a clean exit.
        await host.WaitForShutdownAsync();
        log.Information("stopped");
        return 0;
    }
    catch (Exception e)
    {
        log.Fatal(e, "failed: {Message}", e.Message);
        return 1;
    }
    finally
    {
        await Log.CloseAndFlushAsync();
    }
});

// The host handles SIGINT/SIGTERM itself (graceful shutdown); System.CommandLine must not race it.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
