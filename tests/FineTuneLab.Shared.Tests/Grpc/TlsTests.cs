using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FineTuneLab.Shared.Grpc;
using FineTuneLab.Shared.Grpc.Client;
using FineTuneLab.Shared.Grpc.Echo;
using FineTuneLab.Shared.Protos.Test.V1;

namespace FineTuneLab.Shared.Tests.Grpc;

public sealed class TlsTests
{
    [Fact]
    public async Task Https_endpoint_serves_grpc_over_tls_to_a_client_that_trusts_its_certificate()
    {
        using var certificate = SelfSigned();
        await using var server = await GrpcTestServer.StartAsync(certificate: certificate);
        Assert.StartsWith("https://", server.Address);

        using var trusting = GrpcChannel.ForAddress(server.Address, new GrpcChannelOptions
        {
            ServerCertificateValidation = (_, cert, _, _) => cert is not null && cert.GetCertHashString() == certificate.GetCertHashString(),
        });
        var response = await trusting.CreateCallInvoker().UnaryAsync(EchoDescriptors.Unary, new EchoRequest { Text = "over tls" });
        Assert.Equal("over tls", response.Text);

        using var strict = GrpcChannel.ForAddress(server.Address);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await strict.CreateCallInvoker().UnaryAsync(EchoDescriptors.Unary, new EchoRequest()));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode); // an untrusted certificate is a failed connection
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=ftl-test", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var ephemeral = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        return X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pfx), null);
    }
}
