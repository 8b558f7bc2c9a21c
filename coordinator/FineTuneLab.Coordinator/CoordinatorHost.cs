using System.Security.Cryptography.X509Certificates;
using FineTuneLab.Coordinator.AgentGateway;
using FineTuneLab.Coordinator.Api;
using FineTuneLab.Coordinator.Store;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Serilog;

namespace FineTuneLab.Coordinator;

/// <summary>
/// The coordinator process: Kestrel with an HTTP endpoint (REST, /healthz) and an HTTP/2 gRPC endpoint, the store,
/// and health that follows the lifecycle (NOT_SERVING → store open → SERVING → shutdown → NOT_SERVING).
/// </summary>
public sealed class CoordinatorHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CoordinatorOptions _options;
    private readonly Microsoft.Extensions.Logging.ILogger _log;
    private CoordinatorStore? _store;
    private CoordinatorRuntime? _runtime;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _loop;

    private CoordinatorHost(WebApplication app, CoordinatorOptions options, CoordinatorHealth health)
    {
        _app = app;
        _options = options;
        Health = health;
        _log = app.Logger;
    }

    public CoordinatorHealth Health { get; }
    public CoordinatorStore Store => _store ?? throw new InvalidOperationException("the store is not open yet");
    public CoordinatorRuntime? Runtime => _runtime;
    /// <summary>The host's services (e.g. the route table, which tests hold against the OpenAPI document).</summary>
    public IServiceProvider Services => _app.Services;

    public static CoordinatorHost Create(CoordinatorOptions options, Serilog.ILogger logger)
    {
        // The dashboard (ClientApp/, built into wwwroot/ beside the program by the csproj) is served from there.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { WebRootPath = Path.Combine(AppContext.BaseDirectory, "wwwroot") });
        builder.Services.AddSerilog(logger);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        var certificate = LoadCertificate(options);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            ListenHttp(kestrel, options.HttpUrl, certificate);
            kestrel.ListenGrpc(options.GrpcUrl, certificate);
        });

        var health = new CoordinatorHealth();
        CoordinatorHost? host = null;
        Func<CoordinatorRuntime?> runtime = () => host?._runtime;
        builder.Services.AddAgentGateway(runtime, options.AgentToken, health);

        var app = builder.Build();
        // Health turns NOT_SERVING as shutdown begins; the health service then ends its Watch streams.
        app.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(health.MarkStopping);
        app.UseSerilogRequestLogging();
        app.UseApiKey(options.ApiKey);
        app.MapHealthz(health);
        app.MapApi(runtime);
        app.MapDashboard();
        app.MapAgentGateway();
        host = new CoordinatorHost(app, options, health);
        return host;
    }

    /// <summary>Starts listening (health says NOT_SERVING), opens and migrates the store, then reports SERVING.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _app.StartAsync(cancellationToken);
        _log.LogInformation("listening: http {HttpUrl}, grpc {GrpcUrl}", _options.HttpUrl, _options.GrpcUrl);
        _store = await Task.Run(() => CoordinatorStore.Open(_options.DatabasePath), cancellationToken);
        _log.LogInformation("store open: {Path} (schema version {Version})", _store.DatabasePath, _store.SchemaVersion);
        _runtime = new CoordinatorRuntime(_store, _options, _log);
        var loop = new Scheduling.SchedulerLoop(_runtime, _options.AgentTimeout);
        _loop = Task.Run(() => loop.RunAsync(_stopping.Token));
        Health.MarkStoreOpen();
        _log.LogInformation("serving");
    }

    public Task WaitForShutdownAsync() => _app.WaitForShutdownAsync();

    public Task StopAsync() => _app.StopAsync();

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        if (_loop is not null) await _loop;
        await _app.DisposeAsync();
        _runtime?.Ingest.Dispose();
        _store?.Dispose();
    }

    private static void ListenHttp(KestrelServerOptions kestrel, Uri url, X509Certificate2? certificate)
    {
        if (url.Scheme is not ("http" or "https"))
            throw new ArgumentException($"--http-url '{url}' must be http:// or https://");
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
