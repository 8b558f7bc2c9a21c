using System.Security.Cryptography.X509Certificates;
using FineTuneLab.Coordinator.AgentGateway;
using FineTuneLab.Coordinator.Api;
using FineTuneLab.Coordinator.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Serilog;

namespace FineTuneLab.Coordinator;

/// <summary>
/// The coordinator process: Kestrel with an HTTP endpoint (REST, /healthz, the dashboard) and an HTTP/2 gRPC endpoint,
/// the container of <see cref="CoordinatorServices"/>, and health that follows the lifecycle (NOT_SERVING → store
/// open → SERVING → shutdown → NOT_SERVING).
/// </summary>
public sealed class CoordinatorHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private CoordinatorHost(WebApplication app) => _app = app;

    public CoordinatorHealth Health => _app.Services.GetRequiredService<CoordinatorHealth>();
    public CoordinatorOptions Options => _app.Services.GetRequiredService<IOptions<CoordinatorOptions>>().Value;
    /// <summary>The runtime once the store is open, else null.</summary>
    public CoordinatorRuntime? Runtime => Health.IsStoreOpen ? _app.Services.GetRequiredService<CoordinatorRuntime>() : null;
    /// <summary>The host's services (e.g. the route table, which tests hold against the OpenAPI document).</summary>
    public IServiceProvider Services => _app.Services;

    public static CoordinatorHost Create(CoordinatorOptions options, Serilog.ILogger logger) => Create(options.ToSettings(), logger);

    /// <param name="settings">Configuration keys of <see cref="CoordinatorOptions"/> (<c>Coordinator:DataDir</c>, …).</param>
    public static CoordinatorHost Create(IReadOnlyDictionary<string, string?> settings, Serilog.ILogger logger)
    {
        // The dashboard (ClientApp/, built into wwwroot/ beside the program by the csproj) is served from there.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { WebRootPath = Path.Combine(AppContext.BaseDirectory, "wwwroot") });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddSerilog(logger);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.Services.AddCoordinator(builder.Configuration);
        builder.Services.AddOptions<KestrelServerOptions>().Configure<IOptions<CoordinatorOptions>>((kestrel, o) =>
        {
            var certificate = LoadCertificate(o.Value);
            ListenHttp(kestrel, o.Value.HttpUrl!, certificate);
            kestrel.ListenGrpc(o.Value.GrpcUrl!, certificate);
        });
        builder.Services.AddAgentGateway();
        builder.Services.AddApi();

        var app = builder.Build();
        var health = app.Services.GetRequiredService<CoordinatorHealth>();
        // Health turns NOT_SERVING as shutdown begins; the health service then ends its Watch streams.
        app.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(health.MarkStopping);
        app.UseExceptionHandler();
        app.UseSerilogRequestLogging();
        app.UseApiKey(app.Services.GetRequiredService<IOptions<CoordinatorOptions>>().Value.ApiKey);
        app.UseStartingGate(health);
        app.MapHealthz();
        app.MapApi();
        app.MapDashboard();
        // After the routing MapDashboard adds (the endpoint names its body's shape), before the endpoint binds it.
        app.UseStrictBodies();
        app.MapAgentGateway();
        return new CoordinatorHost(app);
    }

    /// <summary>Starts listening (health says NOT_SERVING), opens and migrates the store, then reports SERVING.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _app.StartAsync(cancellationToken);
        var log = _app.Logger;
        log.LogInformation("listening: http {HttpUrl}, grpc {GrpcUrl}", Options.HttpUrl, Options.GrpcUrl);
        if (Options.ApiKey is null)
            log.LogWarning("no --api-key: every REST route (/api/*, /metrics) is unauthenticated; anyone who reaches {HttpUrl} can submit, " +
                "stop and read jobs, and download their artifacts", Options.HttpUrl);
        // Resolving the runtime opens the store (CoordinatorServices); the hosted loops wait for it.
        var runtime = await Task.Run(() => _app.Services.GetRequiredService<CoordinatorRuntime>(), cancellationToken);
        log.LogInformation("store open: {Path} (schema version {Version})", runtime.Store.DatabasePath, runtime.Store.SchemaVersion);
        Health.MarkStoreOpen();
        log.LogInformation("serving");
    }

    public Task WaitForShutdownAsync() => _app.WaitForShutdownAsync();

    public Task StopAsync() => _app.StopAsync();

    /// <summary>Stops the host (the loops end, the ingest drains) and disposes the container, the store last.</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static void ListenHttp(KestrelServerOptions kestrel, Uri url, X509Certificate2? certificate)
    {
        if (url.Scheme == "https" && certificate is null)
            throw new ArgumentException($"--http-url '{url}' is https but no --tls-cert is configured");
        Action<ListenOptions> configure = listen =>
        {
            // Cleartext HTTP/2 needs prior knowledge, which browsers and REST clients do not have: h2 only with TLS.
            listen.Protocols = url.Scheme == "https" ? HttpProtocols.Http1AndHttp2 : HttpProtocols.Http1;
            if (url.Scheme == "https")
                listen.UseHttps(certificate!);
        };
        kestrel.ListenUrl(url, configure);
    }

    private static X509Certificate2? LoadCertificate(CoordinatorOptions options)
    {
        if (options.TlsCertificatePath is null)
            return null;
        if (!File.Exists(options.TlsCertificatePath))
            throw new FileNotFoundException($"--tls-cert: {options.TlsCertificatePath} does not exist");
        if (options.TlsKeyPath is not null)
            return X509Certificate2.CreateFromPemFile(options.TlsCertificatePath, options.TlsKeyPath);
        return X509CertificateLoader.LoadPkcs12FromFile(options.TlsCertificatePath, password: null);
    }
}
