using System.Text.Json;
using FineTuneLab.Shared.Grpc;
using FineTuneLab.Shared.Grpc.Server;
using FineTuneLab.Shared.Protos.Test.V1;
using FineTuneLab.Shared.Tests.Grpc;
using FineTuneLab.TestSupport;

namespace FineTuneLab.Shared.Tests.Interop;

/// <summary>Python grpcio's client (scripts/grpc-interop/echo_client.py) against our Kestrel server.</summary>
public sealed class GrpcioClientAgainstOurServerTests
{
    [Fact]
    public async Task Grpcio_client_sees_a_standard_grpc_server()
    {
        var wait = new GrpcMethod<EchoRequest, EchoResponse>(MethodType.Unary, "ftl.test.v1.Probe", "Wait", EchoRequest.Parser, EchoResponse.Parser);
        var handlerCancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await GrpcTestServer.StartAsync(app => app.MapGrpcMethod(wait, async (EchoRequest _, ServerCallContext ctx) =>
        {
            try { await Task.Delay(Timeout.Infinite, ctx.CancellationToken); }
            catch (OperationCanceledException) { handlerCancelled.TrySetResult(); throw; }
            return new EchoResponse();
        }));

        var result = await ExternalProcess.RunAsync(ExternalProcess.DebianPython,
            [Path.Combine(RepoPaths.Scripts, "grpc-interop", "echo_client.py"), $"127.0.0.1:{server.Port}"],
            timeout: TimeSpan.FromMinutes(2));
        result.EnsureSuccess("echo_client.py");
        var json = JsonDocument.Parse(result.StdOut).RootElement;

        Assert.Equal("héllo", json.GetProperty("unary").GetProperty("text").GetString());
        Assert.Equal([0, 1, 255], json.GetProperty("unary").GetProperty("payload").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal([0, 1, 2, 3, 4], json.GetProperty("server_stream").EnumerateArray().Select(e => e.GetInt32()));
        var cs = json.GetProperty("client_stream");
        Assert.Equal(("abc", 3, 5), (cs.GetProperty("text").GetString(), cs.GetProperty("count").GetInt32(), cs.GetProperty("bytes").GetInt32()));
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"{i}:d{i}"),
            json.GetProperty("duplex").EnumerateArray().Select(p => $"{p[0].GetInt32()}:{p[1].GetString()}"));

        Assert.Equal("DEADLINE_EXCEEDED", json.GetProperty("deadline").GetString());
        Assert.Equal("CANCELLED", json.GetProperty("cancel").GetString());
        await handlerCancelled.Task.WaitAsync(TimeSpan.FromSeconds(5)); // grpcio's cancel reset the stream; our handler saw it

        var statuses = json.GetProperty("statuses");
        for (var code = 1; code <= 16; code++)
        {
            var pair = statuses.GetProperty(code.ToString());
            Assert.Equal(GrpcioName((StatusCode)code), pair[0].GetString());
            Assert.Equal($"{code}: échec ✓ 100% 日本\n", pair[1].GetString());
        }

        var ss = json.GetProperty("stream_status");
        Assert.Equal([0, 1, 2], ss.GetProperty("received").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(("DATA_LOSS", "after three"), (ss.GetProperty("code").GetString(), ss.GetProperty("details").GetString()));

        var md = json.GetProperty("metadata");
        Assert.Equal("ping-7", md.GetProperty("metadata_echo").GetString());
        Assert.Equal("Bearer tok-123", md.GetProperty("authorization_echo").GetString());
        Assert.Equal("ping-7", md.GetProperty("initial").GetProperty("x-echo-response").GetString());
        Assert.Equal("ping-7", md.GetProperty("trailing").GetProperty("x-echo-trailer").GetString());
        Assert.Equal([0, 254, 255], md.GetProperty("trailing").GetProperty("x-echo-bin").EnumerateArray().Select(e => e.GetInt32()));

        Assert.True(json.GetProperty("large").GetProperty("ok").GetBoolean());
        Assert.Equal(("zipped", 100000), (json.GetProperty("gzip").GetProperty("text").GetString(), json.GetProperty("gzip").GetProperty("size").GetInt32()));
        Assert.Equal("RESOURCE_EXHAUSTED", json.GetProperty("oversized").GetString());
        Assert.Equal("UNIMPLEMENTED", json.GetProperty("unimplemented").GetString());
    }

    /// <summary>grpcio's StatusCode names: OK, CANCELLED, ..., DEADLINE_EXCEEDED, UNAUTHENTICATED.</summary>
    private static string GrpcioName(StatusCode code) => code switch
    {
        StatusCode.Unknown => "UNKNOWN",
        _ => string.Concat(code.ToString().Select((c, i) => i > 0 && char.IsUpper(c) ? "_" + c : c.ToString())).ToUpperInvariant(),
    };
}
