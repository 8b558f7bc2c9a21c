using System.Security.Cryptography.X509Certificates;
using FineTuneLab.Shared.Grpc.Echo;
using FineTuneLab.Shared.Grpc.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Shared.Tests.Grpc;

/// <summary>A real Kestrel server on 127.0.0.1 (port 0 unless given) serving Echo plus whatever a test maps.</summary>
public sealed class GrpcTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private GrpcTestServer(WebApplication app, string address)
    {
        _app = app;
        Address = address;
    }

    public string Address { get; }
    public int Port => new Uri(Address).Port;

    public static async Task<GrpcTestServer> StartAsync(Action<IEndpointRouteBuilder>? map = null,
        Action<GrpcServerOptions>? configure = null, int port = 0, X509Certificate2? certificate = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.ListenGrpc(new Uri($"{(certificate is null ? "http" : "https")}://127.0.0.1:{port}"), certificate));
        builder.Services.Configure<GrpcServerOptions>(o =>
        {
            o.EnableDetailedErrors = true;
            configure?.Invoke(o);
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        var app = builder.Build();
        app.MapGrpcService(new EchoService());
        map?.Invoke(app);
        app.MapGrpcUnimplemented();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new GrpcTestServer(app, address);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
