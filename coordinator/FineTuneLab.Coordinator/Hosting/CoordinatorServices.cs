using FineTuneLab.Coordinator.AgentGateway;
using FineTuneLab.Coordinator.Anomalies;
using FineTuneLab.Coordinator.Blobs;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Scheduling;
using FineTuneLab.Coordinator.Store;
using Microsoft.Extensions.Options;

namespace FineTuneLab.Coordinator.Hosting;

/// <summary>
/// The coordinator's container: its options (bound from the <c>Coordinator</c> section and checked at start), the
/// store and the services built on it (what REST handlers and gRPC calls take as parameters), and the hosted loops.
/// The store opens when first resolved, which <see cref="CoordinatorHost.StartAsync"/> does after Kestrel listens;
/// until then health says NOT_SERVING, the API answers 503 and the gateway UNAVAILABLE, and the loops wait.
/// </summary>
public static class CoordinatorServices
{
    public static IServiceCollection AddCoordinator(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<CoordinatorOptions>().Bind(configuration.GetSection(CoordinatorOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<CoordinatorOptions>, CoordinatorOptionsValidator>();
        services.AddSingleton<CoordinatorHealth>();

        services.AddSingleton(sp => CoordinatorStore.Open(Options(sp).DatabasePath));
        services.AddSingleton(sp => new CoordinatorRuntime(sp.GetRequiredService<CoordinatorStore>(), Options(sp),
            sp.GetRequiredService<ILogger<CoordinatorRuntime>>()));
        services.AddSingleton(sp => Runtime(sp).Jobs);
        services.AddSingleton(sp => Runtime(sp).Blobs);
        services.AddSingleton(sp => Runtime(sp).Agents);
        services.AddSingleton(sp => Runtime(sp).Feed);
        services.AddSingleton(sp => Runtime(sp).Ingest);
        services.AddSingleton(sp => Runtime(sp).Sessions);
        services.AddSingleton(sp => Runtime(sp).Refusals);
        services.AddSingleton(sp => Runtime(sp).Commands);
        services.AddSingleton(sp => new GgufExports(Runtime(sp),
            new GgufExportBuilder(SpecValidator.Resolve(Options(sp).TrainerCommand), Path.Combine(Options(sp).DataDir, "exports")),
            sp.GetRequiredService<ILogger<GgufExports>>()));

        services.AddSingleton(sp => new SchedulerLoop(Runtime(sp), Options(sp).AgentTimeout));
        services.AddSingleton(sp => new AnomalyWatcher(Runtime(sp)));
        services.AddHostedService<SchedulerService>();
        services.AddHostedService<AnomalyWatcherService>();
        services.AddHostedService<TelemetryIngestService>();
        return services;
    }

    private static CoordinatorOptions Options(IServiceProvider sp) => sp.GetRequiredService<IOptions<CoordinatorOptions>>().Value;

    private static CoordinatorRuntime Runtime(IServiceProvider sp) => sp.GetRequiredService<CoordinatorRuntime>();
}
