using System.Text.Json;

namespace FineTuneLab.Trainer.Jobs;

/// <summary>
/// Maps JSON paths (<c>$.lora.r</c>, <c>$.data.column_mapping.x</c>, <c>$.lora.target_modules[2]</c>) to the
/// line and column where they appear, so validation errors can point into the user's file.
/// JsonDocument keeps no positions, hence this one extra reader pass over the bytes.
/// </summary>
public sealed class JsonLocationIndex
{
    private readonly Dictionary<string, (int Line, int Column)> _locations = new(StringComparer.Ordinal);

    public JsonLocationIndex(ReadOnlySpan<byte> utf8Json, JsonReaderOptions options)
    {
        var reader = new Utf8JsonReader(utf8Json, options);
        var path = new List<string>();          // segments: ".name" or "[i]"
        var arrayIndex = new Stack<int>();      // next index for each open array (-1 for objects)
        var line = 1;
        var lineStart = 0L;
        var scanned = 0L;
        string? pendingProperty = null;

        while (reader.Read())
        {
            for (; scanned < reader.TokenStartIndex; scanned++)
            {
                if (utf8Json[(int)scanned] == (byte)'\n') { line++; lineStart = scanned + 1; }
            }
            var here = (line, (int)(reader.TokenStartIndex - lineStart) + 1);

            if (reader.TokenType == JsonTokenType.PropertyName)
            {
                pendingProperty = "." + reader.GetString();
                path.Add(pendingProperty);
                _locations[string.Concat(path.Prepend("$"))] = here;
                continue;
            }

            // A value: inside an array it gets the next index as its path segment.
            var inArray = arrayIndex.Count > 0 && arrayIndex.Peek() >= 0;
            if (inArray && reader.TokenType is not (JsonTokenType.EndArray or JsonTokenType.EndObject))
            {
                var i = arrayIndex.Pop();
                arrayIndex.Push(i + 1);
                path.Add($"[{i}]");
                _locations[string.Concat(path.Prepend("$"))] = here;
            }
            else if (pendingProperty is null && path.Count == 0 && reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                _locations.TryAdd("$", here);
            }
            pendingProperty = null;

            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject: arrayIndex.Push(-1); continue;
                case JsonTokenType.StartArray: arrayIndex.Push(0); continue;
                case JsonTokenType.EndObject:
                case JsonTokenType.EndArray:
                    arrayIndex.Pop();
                    break;
            }
            // The value (scalar or just-closed container) is complete: pop its segment.
            if (path.Count > 0) path.RemoveAt(path.Count - 1);
        }
    }

    /// <summary>The location of a path, or of its nearest ancestor that appears in the file.</summary>
    public (int Line, int Column)? Find(string path)
    {
        for (var p = path; p.Length > 0; p = Parent(p))
        {
            if (_locations.TryGetValue(p, out var location)) return location;
            if (p == "$") break;
        }
        return null;
    }

    private static string Parent(string path)
    {
        var cut = path.LastIndexOfAny(['.', '[']);
        return cut <= 0 ? "$" : path[..cut];
    }
}
