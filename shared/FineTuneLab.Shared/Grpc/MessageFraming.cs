using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Pipelines;
using Google.Protobuf;

namespace FineTuneLab.Shared.Grpc;

/// <summary>
/// Length-prefixed messages: a 1-byte compressed flag, a 4-byte big-endian length, then the protobuf bytes.
/// Messages are parsed straight out of the pipe's buffers and serialized straight into the writer's.
/// </summary>
internal static class MessageFraming
{
    /// <summary>
    /// Reads the next message, or null at a clean end of stream. <paramref name="encoding"/> is the peer's
    /// <c>grpc-encoding</c> (null or identity: compressed frames are a protocol error).
    /// </summary>
    public static async ValueTask<T?> ReadMessageAsync<T>(PipeReader reader, MessageParser<T> parser, int maxSize,
        string? encoding, CancellationToken cancellationToken) where T : class, IMessage<T>
    {
        var result = await reader.ReadAtLeastAsync(GrpcProtocol.FrameHeaderSize, cancellationToken).ConfigureAwait(false);
        var buffer = result.Buffer;
        if (buffer.Length < GrpcProtocol.FrameHeaderSize)
        {
            reader.AdvanceTo(buffer.End);
            if (buffer.Length == 0 && result.IsCompleted)
                return null;
            if (result.IsCanceled)
                throw new OperationCanceledException(cancellationToken);
            throw new RpcException(StatusCode.Internal, "the stream ended inside a message header");
        }

        var (compressed, length) = ReadHeader(buffer, maxSize);
        var frameSize = GrpcProtocol.FrameHeaderSize + length;
        if (buffer.Length < frameSize)
        {
            reader.AdvanceTo(buffer.Start, buffer.End);
            result = await reader.ReadAtLeastAsync(frameSize, cancellationToken).ConfigureAwait(false);
            buffer = result.Buffer;
            if (buffer.Length < frameSize)
            {
                reader.AdvanceTo(buffer.End);
                throw new RpcException(StatusCode.Internal, $"the stream ended inside a message ({buffer.Length - GrpcProtocol.FrameHeaderSize} of {length} bytes)");
            }
        }

        var payload = buffer.Slice(GrpcProtocol.FrameHeaderSize, length);
        try
        {
            return compressed ? ParseCompressed(payload, parser, maxSize, encoding) : Parse(payload, parser);
        }
        finally
        {
            reader.AdvanceTo(buffer.GetPosition(frameSize));
        }
    }

    /// <summary>Writes one framed message into <paramref name="writer"/> (not flushed).</summary>
    public static void WriteMessage<T>(IBufferWriter<byte> writer, T message, int? maxSize, bool gzip) where T : IMessage<T>
    {
        var size = message.CalculateSize();
        if (size > maxSize)
            throw new RpcException(StatusCode.ResourceExhausted, $"Sending message larger than max ({size} vs. {maxSize})");

        if (gzip)
        {
            WriteCompressed(writer, message, size);
            return;
        }

        var header = writer.GetSpan(GrpcProtocol.FrameHeaderSize);
        header[0] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(header[1..], (uint)size);
        writer.Advance(GrpcProtocol.FrameHeaderSize);
        if (size > 0)
            message.WriteTo(writer);
    }

    private static (bool Compressed, int Length) ReadHeader(in ReadOnlySequence<byte> buffer, int maxSize)
    {
        Span<byte> header = stackalloc byte[GrpcProtocol.FrameHeaderSize];
        buffer.Slice(0, GrpcProtocol.FrameHeaderSize).CopyTo(header);
        var flag = header[0];
        if (flag > 1)
            throw new RpcException(StatusCode.Internal, $"invalid message flag byte {flag} (expected 0 or 1)");
        var length = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        if (length > (uint)maxSize)
            throw new RpcException(StatusCode.ResourceExhausted, $"Received message larger than max ({length} vs. {maxSize})");
        return (flag == 1, (int)length);
    }

    private static T Parse<T>(in ReadOnlySequence<byte> payload, MessageParser<T> parser) where T : class, IMessage<T>
    {
        try
        {
            return parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new RpcException(new Status(StatusCode.Internal, $"could not parse {typeof(T).Name}: {e.Message}"), innerException: e);
        }
    }

    private static T ParseCompressed<T>(in ReadOnlySequence<byte> payload, MessageParser<T> parser, int maxSize, string? encoding)
        where T : class, IMessage<T>
    {
        if (!string.Equals(encoding, GrpcProtocol.GzipEncoding, StringComparison.OrdinalIgnoreCase))
            throw new RpcException(StatusCode.Internal,
                $"received a compressed message but grpc-encoding is '{encoding ?? GrpcProtocol.IdentityEncoding}'");

        var compressed = ArrayPool<byte>.Shared.Rent((int)payload.Length);
        byte[]? output = null;
        try
        {
            payload.CopyTo(compressed);
            using var source = new GZipStream(new MemoryStream(compressed, 0, (int)payload.Length), CompressionMode.Decompress);
            output = ArrayPool<byte>.Shared.Rent(Math.Max(256, (int)Math.Min((long)maxSize + 1, payload.Length * 4L)));
            var n = 0;
            while (true)
            {
                if (n == output.Length)
                {
                    if (n > maxSize)
                        break;
                    var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)maxSize + 1, output.Length * 2L));
                    output.AsSpan(0, n).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(output);
                    output = bigger;
                }
                var read = source.Read(output, n, output.Length - n);
                if (read == 0)
                    break;
                n += read;
            }
            if (n > maxSize)
                throw new RpcException(StatusCode.ResourceExhausted, $"Received message larger than max (decompressed over {maxSize} bytes)");
            return Parse(new ReadOnlySequence<byte>(output, 0, n), parser);
        }
        catch (InvalidDataException e)
        {
            throw new RpcException(new Status(StatusCode.Internal, $"could not decompress a gzip message: {e.Message}"), innerException: e);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(compressed);
            if (output is not null)
                ArrayPool<byte>.Shared.Return(output);
        }
    }

    private static void WriteCompressed<T>(IBufferWriter<byte> writer, T message, int size) where T : IMessage<T>
    {
        var raw = ArrayPool<byte>.Shared.Rent(Math.Max(size, 1));
        try
        {
            message.WriteTo(raw.AsSpan(0, size));
            using var compressed = new MemoryStream(size / 2 + 64);
            using (var gz = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
                gz.Write(raw, 0, size);
            var length = (int)compressed.Length;
            var span = writer.GetSpan(GrpcProtocol.FrameHeaderSize + length);
            span[0] = 1;
            BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)length);
            compressed.GetBuffer().AsSpan(0, length).CopyTo(span[GrpcProtocol.FrameHeaderSize..]);
            writer.Advance(GrpcProtocol.FrameHeaderSize + length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }
    }
}
