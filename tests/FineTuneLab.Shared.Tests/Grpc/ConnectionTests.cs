using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using FineTuneLab.Shared.Grpc;
using FineTuneLab.Shared.Grpc.Client;
using FineTuneLab.Shared.Grpc.Echo;
using FineTuneLab.Shared.Grpc.Server;
using FineTuneLab.Shared.Protos.Test.V1;

namespace FineTuneLab.Shared.Tests.Grpc;

public sealed class ConnectionTests
{
    private static readonly GrpcMethod<EchoRequest, EchoResponse> ConnectionId =
        new(MethodType.Unary, "ftl.test.v1.Probe", "ConnectionId", EchoRequest.Parser, EchoResponse.Parser);

    [Fact]
    public async Task Hundreds_of_concurrent_calls_share_one_connection()
    {
        var inFlight = 0;
        var maxInFlight = 0;
        await using var server = await GrpcTestServer.StartAsync(app => app.MapGrpcMethod(ConnectionId, async (EchoRequest r, ServerCallContext ctx) =>
        {
            var now = Interlocked.Increment(ref inFlight);
            InterlockedMax(ref maxInFlight, now);
            await Task.Delay(r.DelayMs, ctx.CancellationToken);
            Interlocked.Decrement(ref inFlight);
            return new EchoResponse { Text = ctx.HttpContext.Connection.Id, Index = r.Repeat };
        }));
        using var channel = GrpcChannel.ForAddress(server.Address);
        var invoker = channel.CreateCallInvoker();

        var calls = Enumerable.Range(0, 150).Select(i =>
            invoker.UnaryAsync(ConnectionId, new EchoRequest { DelayMs = 2000, Repeat = i }).ResponseAsync).ToArray();
        var responses = await Task.WhenAll(calls);

        Assert.Equal(Enumerable.Range(0, 150), responses.Select(r => r.Index));
        Assert.Single(responses.Select(r => r.Text).Distinct());
        Assert.True(maxInFlight > 100, $"only {maxInFlight} calls were in flight at once");
    }

    [Fact]
    public async Task A_dropped_connection_fails_its_calls_with_unavailable_and_the_next_call_reconnects()
    {
        await using var server = await GrpcTestServer.StartAsync();
        await using var proxy = await TcpProxy.StartAsync(server.Port);
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{proxy.Port}");
        var invoker = channel.CreateCallInvoker();

        Assert.Equal("before", (await invoker.UnaryAsync(EchoDescriptors.Unary, new EchoRequest { Text = "before" })).Text);
        var slow = invoker.UnaryAsync(EchoDescriptors.Unary, new EchoRequest { DelayMs = 10_000 }).ResponseAsync;
        await Task.Delay(300);
        proxy.DropAll();

        var e = await Assert.ThrowsAsync<RpcException>(() => slow);
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.Equal("after", (await invoker.UnaryAsync(EchoDescriptors.Unary, new EchoRequest { Text = "after" })).Text);
        Assert.Equal(2, proxy.ConnectionsAccepted);
    }

    [Fact]
    public async Task Keep_alive_pings_detect_a_silent_dead_connection()
    {
        await using var server = await GrpcTestServer.StartAsync();
        await using var proxy = await TcpProxy.StartAsync(server.Port);
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{proxy.Port}", new GrpcChannelOptions
        {
            KeepAlivePingDelay = TimeSpan.FromSeconds(1),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(1),
        });
        var invoker = channel.CreateCallInvoker();
        await invoker.UnaryAsync(EchoDescriptors.Unary, new EchoRequest());

        var slow = invoker.UnaryAsync(EchoDescriptors.Unary, new EchoRequest { DelayMs = 30_000 }).ResponseAsync;
        await Task.Delay(300);
        proxy.Blackhole(); // the peer vanishes without a FIN or RST: only an unanswered PING can tell
        var watch = System.Diagnostics.Stopwatch.StartNew();

        var e = await Assert.ThrowsAsync<RpcException>(() => slow.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.True(e.StatusCode == StatusCode.Unavailable, e.ToString());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed} to notice");
    }

    [Fact]
    public async Task Nothing_listening_is_unavailable()
    {
        var port = FreePort();
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");

        var e = await Assert.ThrowsAsync<RpcException>(async () => await channel.CreateCallInvoker().UnaryAsync(EchoDescriptors.Unary, new EchoRequest()));

        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current) { }
    }

    /// <summary>Forwards TCP connections to the server and can cut them all, like a network failure would.</summary>
    private sealed class TcpProxy : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly ConcurrentBag<Socket> _sockets = [];
        private readonly CancellationTokenSource _stop = new();
        private int _accepted;
        private volatile bool _blackhole;

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
        public int ConnectionsAccepted => Volatile.Read(ref _accepted);

        public static Task<TcpProxy> StartAsync(int targetPort)
        {
            var proxy = new TcpProxy();
            proxy._listener.Start();
            _ = proxy.AcceptLoop(targetPort);
            return Task.FromResult(proxy);
        }

        private async Task AcceptLoop(int targetPort)
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket client;
                try { client = await _listener.AcceptSocketAsync(_stop.Token); }
                catch (Exception) { return; }
                Interlocked.Increment(ref _accepted);
                var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await upstream.ConnectAsync(IPAddress.Loopback, targetPort);
                _sockets.Add(client);
                _sockets.Add(upstream);
                _ = Pump(client, upstream);
                _ = Pump(upstream, client);
            }
        }

        /// <summary>Keeps every connection open but forwards nothing more, like a peer behind a dead link.</summary>
        public void Blackhole() => _blackhole = true;

        private async Task Pump(Socket from, Socket to)
        {
            var buffer = new byte[64 * 1024];
            try
            {
                while (true)
                {
                    var n = await from.ReceiveAsync(buffer, SocketFlags.None);
                    if (n == 0) break;
                    if (_blackhole) continue;
                    await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None);
                }
            }
            catch (Exception) { }
            try { to.Shutdown(SocketShutdown.Both); } catch (Exception) { }
        }

        public void DropAll()
        {
            while (_sockets.TryTake(out var s))
            {
                s.LingerState = new LingerOption(true, 0); // RST, like a dead peer
                s.Close();
            }
        }

        public ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listener.Stop();
            DropAll();
            return ValueTask.CompletedTask;
        }
    }
}
