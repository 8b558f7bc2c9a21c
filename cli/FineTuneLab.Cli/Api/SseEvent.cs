using System.Runtime.CompilerServices;
using System.Text;

namespace FineTuneLab.Cli.Api;

/// <summary>One Server-Sent Event: its <c>id:</c> (null for the coordinator's id-less snapshots), <c>event:</c> and <c>data:</c>.</summary>
public sealed record SseEvent(string? Id, string Type, string Data)
{
    /// <summary>Reads events until the server closes the stream (text/event-stream framing: fields, a blank line ends one).</summary>
    public static async IAsyncEnumerable<SseEvent> ReadAllAsync(Stream stream, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8);
        string? id = null, type = null;
        var data = new StringBuilder();
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length == 0)
            {
                if (data.Length > 0 || type is not null)
                    yield return new SseEvent(id, type ?? "message", data.ToString());
                (id, type) = (null, null);
                data.Clear();
                continue;
            }
            if (line[0] == ':') continue; // a comment (keep-alive)
            var colon = line.IndexOf(':');
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..];
            if (value.StartsWith(' ')) value = value[1..];
            switch (field)
            {
                case "id": id = value; break;
                case "event": type = value; break;
                case "data":
                    if (data.Length > 0) data.Append('\n');
                    data.Append(value);
                    break;
            }
        }
    }
}
