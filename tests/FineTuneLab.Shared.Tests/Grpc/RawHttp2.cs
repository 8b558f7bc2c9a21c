using System.Buffers.Binary;
using System.Net;
using System.Net.Http;
using Google.Protobuf;

namespace FineTuneLab.Shared.Tests.Grpc;

/// <summary>Plain HTTP/2 requests, to check what is on the wire without our client in between.</summary>
internal static class RawHttp2
{
    public static HttpClient CreateClient() => new(new SocketsHttpHandler { UseProxy = false })
    {
        DefaultRequestVersion = HttpVersion.Version20,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };

    public static byte[] Frame(IMessage message, bool compressedFlag = false)
    {
        var bytes = message.ToByteArray();
        var frame = new byte[5 + bytes.Length];
        frame[0] = compressedFlag ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)bytes.Length);
        bytes.CopyTo(frame, 5);
        return frame;
    }

    public static Task<HttpResponseMessage> PostAsync(HttpClient http, string url, IMessage message,
        Action<HttpRequestMessage>? configure = null, byte[]? body = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(body ?? Frame(message)),
        };
        request.Content.Headers.TryAddWithoutValidation("content-type", "application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        configure?.Invoke(request);
        return http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }
}
