using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>The model object of tokenizer.json read straight from the file's bytes: the vocabulary and merges (nearly
/// all of a large file) by a strict scanner of the two shapes they can take, with no token, string or document per
/// entry; the other fields as small JsonDocuments. The vocabulary's hash table is built on another thread while the
/// merges are scanned. Malformed JSON is reported with its line, a wrong shape with its JSON path.</summary>
internal sealed class ModelJsonScanner
{
    private readonly string _fileName;
    private readonly MappedFile _file;
    private int _pos;
    private byte[] _scratch = new byte[256];

    private ModelJsonScanner(string fileName, MappedFile file, int start)
    {
        _fileName = fileName;
        _file = file;
        _pos = start;
    }

    internal sealed class ScannedModel
    {
        public readonly Dictionary<string, JsonElement> Fields = new(StringComparer.Ordinal);
        public Task<Utf8Vocabulary>? Vocabulary;
        public ScannedMerges? Merges;
        /// <summary>Started when the merges follow the vocabulary (as HF writes them), with the prefix known then.</summary>
        public MergeResolver? Resolver;
        public int End;
    }

    /// <summary>Scans the model object starting at <paramref name="start"/> (its '{'); documents made for its other
    /// fields are added to <paramref name="documents"/> for the caller to dispose.</summary>
    public static ScannedModel Scan(string fileName, MappedFile file, int start, Dictionary<string, JsonDocument> documents) =>
        new ModelJsonScanner(fileName, file, start).ScanModel(documents);

    private ReadOnlySpan<byte> Json
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _file.Span;
    }

    private ScannedModel ScanModel(Dictionary<string, JsonDocument> documents)
    {
        var model = new ScannedModel();
        try
        {
            ScanFields(model, documents);
            return model;
        }
        catch
        {
            // The resolver's helper reads the mapped file: it must stop before the caller closes it.
            model.Merges?.Complete();
            model.Resolver?.Abandon();
            throw;
        }
    }

    private void ScanFields(ScannedModel model, Dictionary<string, JsonDocument> documents)
    {
        Expect((byte)'{');
        SkipWhitespace();
        if (Peek() != '}')
        {
            while (true)
            {
                var name = ReadPropertyName();
                SkipWhitespace();
                switch (name)
                {
                    case "vocab" or "merges" when model.Fields.ContainsKey(name) || (name == "vocab" ? model.Vocabulary is not null : model.Merges is not null):
                        throw new TokenizerFormatException(_fileName, $"$.model.{name}", "given twice");
                    case "vocab" when Peek() == '{':
                        var builder = new Utf8Vocabulary.Builder();
                        ScanVocab(builder);
                        model.Vocabulary = Task.Run(() => builder.Build(_fileName));
                        break;
                    case "merges" when Peek() == '[':
                        var merges = model.Merges = new ScannedMerges();
                        if (model.Vocabulary is not null) model.Resolver = MergeResolver.Start(merges, model.Vocabulary, _file, PrefixBytes(model));
                        try { ScanMerges(merges); }
                        finally { merges.Complete(); } // a failed scan lets the resolver's helper stop waiting
                        break;
                    default:
                        var doc = ParseValue();
                        documents[$"model.{name}"] = doc;
                        model.Fields[name] = doc.RootElement;
                        break;
                }
                SkipWhitespace();
                var c = Peek();
                _pos++;
                if (c == '}') break;
                if (c != ',') throw Malformed(_pos - 1, "expected ',' or '}' after a property of the model");
                SkipWhitespace();
            }
        }
        else _pos++;
        model.End = _pos;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ScanVocab(Utf8Vocabulary.Builder builder)
    {
        _pos++;
        SkipWhitespace();
        if (Peek() == '}') { _pos++; return; }
        while (true)
        {
            var key = ReadString();
            SkipWhitespace();
            Expect((byte)':');
            SkipWhitespace();
            builder.Add(key, ReadTokenId(key));
            SkipWhitespace();
            var c = Peek();
            _pos++;
            if (c == ',')
            {
                SkipWhitespace();
                continue;
            }
            if (c == '}') return;
            throw Malformed(_pos - 1, "expected ',' or '}' in the vocabulary");
        }
    }

    /// <summary>The UTF-8 length of continuing_subword_prefix as given so far (merged tokens drop it from b).</summary>
    public static int PrefixBytes(ScannedModel model) =>
        model.Fields.TryGetValue("continuing_subword_prefix", out var p) && p.ValueKind == JsonValueKind.String ? Encoding.UTF8.GetByteCount(p.GetString()!) : 0;

    /// <summary>A vocabulary value: a non-negative integer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int ReadTokenId(ReadOnlySpan<byte> key)
    {
        var json = Json;
        var p = _pos;
        var negative = p < json.Length && json[p] == '-';
        if (negative) p++;
        var digits = p;
        long value = 0;
        while (p < json.Length && json[p] - (uint)'0' <= 9)
        {
            value = value * 10 + (json[p] - '0');
            if (value > int.MaxValue) throw NotAnId(key);
            p++;
        }
        if (p == digits || (negative && value != 0)) throw NotAnId(key);
        if (json[digits] == '0' && p - digits > 1) throw Malformed(digits, "a number with a leading zero");
        if (p < json.Length && json[p] is (byte)'.' or (byte)'e' or (byte)'E') throw NotAnId(key);
        _pos = p;
        return (int)value;
    }

    private TokenizerFormatException NotAnId(ReadOnlySpan<byte> key) =>
        new(_fileName, $"$.model.vocab[\"{Encoding.UTF8.GetString(key)}\"]", "not a non-negative integer id");

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ScanMerges(ScannedMerges merges)
    {
        _pos++;
        SkipWhitespace();
        if (Peek() == ']') { _pos++; return; }
        var rank = 0;
        while (true)
        {
            var c = Peek();
            if (c == '"') AddSpaceSeparated(merges, rank);
            else if (c == '[') AddPair(merges, rank);
            else if (c is (byte)'{' or (byte)'-' or (byte)'t' or (byte)'f' or (byte)'n' || c - (uint)'0' <= 9)
                throw ShapeError(rank, "expected \"a b\" or [\"a\", \"b\"]");
            else throw Malformed(_pos, "expected a value");
            rank++;
            SkipWhitespace();
            c = Peek();
            _pos++;
            if (c == ',')
            {
                SkipWhitespace();
                continue;
            }
            if (c == ']') return;
            throw Malformed(_pos - 1, "expected ',' or ']' in the merges");
        }
    }

    /// <summary>A merge written "a b": split at its one space.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void AddSpaceSeparated(ScannedMerges merges, int rank)
    {
        var start = _pos + 1;
        int offset;
        ReadOnlySpan<byte> text;
        if (ScanString(out var end))
        {
            var side = merges.SideBuffer(end - start);
            var length = Unescape(start, end, side);
            text = side[..length];
            offset = merges.CommitSide(length);
        }
        else
        {
            text = Json.Slice(start, end - start);
            offset = start;
        }
        var space = text.IndexOf((byte)' ');
        if (space < 0 || text[(space + 1)..].Contains((byte)' '))
            throw ShapeError(rank, $"\"{Encoding.UTF8.GetString(text)}\" is not \"a b\"");
        if (offset >= 0) merges.Add(offset, space, offset + space + 1, text.Length - space - 1);
        else merges.Add(offset, space, ~(~offset + space + 1), text.Length - space - 1);
    }

    /// <summary>A merge written ["a", "b"].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void AddPair(ScannedMerges merges, int rank)
    {
        const string pairShape = "expected [\"a\", \"b\"]";
        _pos++;
        SkipWhitespace();
        if (Peek() != '"') throw ShapeError(rank, pairShape);
        var (aOffset, aLength) = MergeSide(merges);
        SkipWhitespace();
        if (Peek() != ',') throw ShapeError(rank, pairShape);
        _pos++;
        SkipWhitespace();
        if (Peek() != '"') throw ShapeError(rank, pairShape);
        var (bOffset, bLength) = MergeSide(merges);
        SkipWhitespace();
        if (Peek() != ']') throw ShapeError(rank, pairShape);
        _pos++;
        merges.Add(aOffset, aLength, bOffset, bLength);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private (int Offset, int Length) MergeSide(ScannedMerges merges)
    {
        var start = _pos + 1;
        if (!ScanString(out var end)) return (start, end - start);
        var length = Unescape(start, end, merges.SideBuffer(end - start));
        return (merges.CommitSide(length), length);
    }

    private TokenizerFormatException ShapeError(int rank, string message) => new(_fileName, $"$.model.merges[{rank}]", message);

    /// <summary>Reads the string at the cursor: the file's bytes when it has no escapes, else its unescaped bytes in a
    /// scratch buffer (valid until the next call).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private ReadOnlySpan<byte> ReadString()
    {
        var start = _pos + 1;
        if (!ScanString(out var end)) return Json.Slice(start, end - start);
        if (_scratch.Length < end - start) _scratch = new byte[Math.Max(_scratch.Length * 2, end - start)];
        return _scratch.AsSpan(0, Unescape(start, end, _scratch));
    }

    private string ReadPropertyName()
    {
        var at = _pos;
        var name = ReadString();
        if (!Utf8.IsValid(name)) throw Malformed(at, "a property name that is not valid UTF-8");
        SkipWhitespace();
        Expect((byte)':');
        return Encoding.UTF8.GetString(name);
    }

    /// <summary>Moves past the string at the cursor; <paramref name="end"/> is its closing quote. Returns whether it
    /// holds escapes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool ScanString(out int end)
    {
        var json = Json;
        var p = _pos;
        if (p >= json.Length || json[p] != '"') throw Malformed(p, "expected a string");
        p++;
        var escaped = false;
        while (true)
        {
            if ((uint)p >= (uint)json.Length) throw Malformed(_pos, "unterminated string");
            var c = json[p];
            if (c == '"') break;
            if (c == '\\')
            {
                escaped = true;
                p += 2;
                continue;
            }
            if (c < 0x20) throw Malformed(p, "a control character inside a string");
            p++;
        }
        end = p;
        _pos = p + 1;
        return escaped;
    }

    /// <summary>Writes the unescaped UTF-8 of the string content [start, end) into <paramref name="output"/> (which
    /// must hold end - start bytes: no escape is shorter unescaped) and returns its length.</summary>
    private int Unescape(int start, int end, Span<byte> output)
    {
        var json = Json;
        var n = 0;
        for (var p = start; p < end;)
        {
            var c = json[p];
            if (c != '\\')
            {
                output[n++] = c;
                p++;
                continue;
            }
            var e = json[p + 1];
            p += 2;
            switch (e)
            {
                case (byte)'"': case (byte)'\\': case (byte)'/': output[n++] = e; continue;
                case (byte)'b': output[n++] = 8; continue;
                case (byte)'f': output[n++] = 12; continue;
                case (byte)'n': output[n++] = 10; continue;
                case (byte)'r': output[n++] = 13; continue;
                case (byte)'t': output[n++] = 9; continue;
                case (byte)'u': break;
                default: throw Malformed(p - 2, $"invalid escape '\\{(char)e}'");
            }
            var unit = Hex4(p, end);
            p += 4;
            int scalar = unit;
            if (char.IsHighSurrogate((char)unit))
            {
                if (p + 6 > end || json[p] != '\\' || json[p + 1] != 'u' || !char.IsLowSurrogate((char)Hex4(p + 2, end)))
                    throw Malformed(p - 6, "a lone surrogate escape");
                scalar = char.ConvertToUtf32((char)unit, (char)Hex4(p + 2, end));
                p += 6;
            }
            else if (char.IsLowSurrogate((char)unit)) throw Malformed(p - 6, "a lone surrogate escape");
            n += new Rune(scalar).EncodeToUtf8(output[n..]);
        }
        return n;
    }

    private int Hex4(int p, int end)
    {
        if (p + 4 > end) throw Malformed(p, "a \\u escape needs four hex digits");
        var value = 0;
        for (var i = p; i < p + 4; i++)
        {
            var digit = HexDigit(Json[i]);
            if (digit < 0) throw Malformed(i, "a \\u escape needs four hex digits");
            value = value * 16 + digit;
        }
        return value;
    }

    private static int HexDigit(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };

    /// <summary>Any other value of the model: one small document, parsed by System.Text.Json from the cursor.</summary>
    private JsonDocument ParseValue()
    {
        var reader = new Utf8JsonReader(Json[_pos..], new JsonReaderOptions { MaxDepth = 256 });
        try
        {
            var doc = JsonDocument.ParseValue(ref reader);
            _pos += (int)reader.BytesConsumed;
            return doc;
        }
        catch (JsonException e)
        {
            var (line, column) = LineAndColumn(_pos);
            var eLine = e.LineNumber ?? 0;
            var eColumn = e.BytePositionInLine ?? 0;
            throw new TokenizerFormatException(_fileName, $"line {line + eLine}, byte {(eLine == 0 ? column + eColumn : eColumn + 1)}",
                $"malformed JSON: {e.Message}", e);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SkipWhitespace()
    {
        var json = Json;
        var p = _pos;
        while ((uint)p < (uint)json.Length && json[p] is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t') p++;
        _pos = p;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte Peek()
    {
        if ((uint)_pos >= (uint)Json.Length) throw Malformed(_pos, "unexpected end of the file");
        return Json[_pos];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Expect(byte c)
    {
        if (Peek() != c) throw Malformed(_pos, $"expected '{(char)c}'");
        _pos++;
    }

    /// <summary>1-based line and byte-in-line of a file offset.</summary>
    private (long Line, long Column) LineAndColumn(int offset)
    {
        var before = Json.Slice(0, Math.Min(offset, Json.Length));
        var lastNewline = before.LastIndexOf((byte)'\n');
        return (before.Count((byte)'\n') + 1, offset - lastNewline);
    }

    private TokenizerFormatException Malformed(int offset, string message)
    {
        var (line, column) = LineAndColumn(offset);
        var found = offset < Json.Length ? $", found '{(char)Json[offset]}'" : "";
        return new TokenizerFormatException(_fileName, $"line {line}, byte {column}", $"malformed JSON: {message}{found}");
    }
}
