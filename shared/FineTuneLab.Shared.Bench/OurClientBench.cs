using System.Diagnostics;
using FineTuneLab.Shared.Grpc;
using FineTuneLab.Shared.Grpc.Client;
using FineTuneLab.Shared.Grpc.Echo;
using FineTuneLab.Shared.Protos.Test.V1;

namespace FineTuneLab.Shared.Bench;

/// <summary>Drives an Echo server with our client over one channel (one HTTP/2 connection), like bench_client.py does.</summary>
public static class OurClientBench
{
    public static async Task<Rates> RunAsync(string address, TimeSpan duration, int concurrency)
    {
        using var channel = GrpcChannel.ForAddress(address);
        var invoker = channel.CreateCallInvoker();
        await UnarySequentialAsync(invoker, TimeSpan.FromMilliseconds(500)); // connect, JIT, tiering
        var seq = await UnarySequentialAsync(invoker, duration);
        var conc = await UnaryConcurrentAsync(invoker, duration, concurrency);
        var stream = await StreamAsync(invoker, duration);
        return new Rates(seq, conc, stream);
    }

    private static async Task<double> UnarySequentialAsync(CallInvoker invoker, TimeSpan duration)
    {
        var request = new EchoRequest { Text = "ping" };
        var watch = Stopwatch.StartNew();
        long n = 0;
        while (watch.Elapsed < duration)
        {
            await invoker.UnaryAsync(EchoDescriptors.Unary, request);
            n++;
        }
        return n / watch.Elapsed.TotalSeconds;
    }

    private static async Task<double> UnaryConcurrentAsync(CallInvoker invoker, TimeSpan duration, int concurrency)
    {
        var request = new EchoRequest { Text = "ping" };
        var watch = Stopwatch.StartNew();
        long n = 0;
        var workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            while (watch.Elapsed < duration)
            {
                await invoker.UnaryAsync(EchoDescriptors.Unary, request);
                Interlocked.Increment(ref n);
            }
        })).ToArray();
        await Task.WhenAll(workers);
        return n / watch.Elapsed.TotalSeconds;
    }

    private static async Task<double> StreamAsync(CallInvoker invoker, TimeSpan duration)
    {
        using var cts = new CancellationTokenSource();
        using var call = invoker.ServerStreaming(EchoDescriptors.ServerStream, new EchoRequest { Text = "tick", Repeat = 100_000_000 },
            new CallOptions(CancellationToken: cts.Token));
        var watch = Stopwatch.StartNew();
        long n = 0;
        while (await call.ResponseStream.MoveNext())
        {
            n++;
            if ((n & 255) == 0 && watch.Elapsed >= duration)
                break;
        }
        var rate = n / watch.Elapsed.TotalSeconds;
        cts.Cancel();
        return rate;
    }
}
