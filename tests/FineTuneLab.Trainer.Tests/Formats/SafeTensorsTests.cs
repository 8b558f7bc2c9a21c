using System.Buffers.Binary;
using System.Text;
using FineTuneLab.Trainer.Formats;

namespace FineTuneLab.Trainer.Tests.Formats;

public sealed class SafeTensorsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ftl-st-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Round_trip_keeps_names_shapes_dtypes_values_and_metadata()
    {
        var path = Path.Combine(_dir, "a.safetensors");
        float[] w = [1.5f, -2.25f, 3f, 0.1f, 1e-20f, -7f];
        SafeTensorsWriter.Write(path,
        [
            SafeTensorWriteItem.Float32("w", w, 2, 3),
            SafeTensorWriteItem.BFloat16("b", [1f, 2.5f, -0.375f], 3),
            new SafeTensorWriteItem("ids", SafeTensorDType.I64, [2], BitConverter.GetBytes(5L).Concat(BitConverter.GetBytes(-1L)).ToArray()),
        ], new Dictionary<string, string> { ["format"] = "pt" });

        var bytes = File.ReadAllBytes(path);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0UL, headerLength % 8);
        Assert.False(File.Exists(path + $".tmp-{Environment.ProcessId}"));

        using var f = SafeTensorFile.Open(path);
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal(new long[] { 2, 3 }, f.Get("w").Shape);
        Assert.Equal(SafeTensorDType.BF16, f.Get("b").DType);
        Assert.Equal(w, f.ReadFloat32("w"));
        Assert.Equal(new[] { 1f, 2.5f, -0.375f }, f.ReadFloat32("b"));
        Assert.Equal(-1L, BitConverter.ToInt64(f.Bytes("ids")[8..]));
    }

    [Fact]
    public async Task Torch_written_file_reads_with_the_values_torch_wrote()
    {
        var path = Path.Combine(_dir, "torch.safetensors");
        var script = $$"""
            import sys, torch
            sys.path.insert(0, '{{TestSupport.RepoPaths.Scripts}}')
            from torch_ref_model import write_safetensors
            t = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 7
            write_safetensors('{{path}}', {'x.weight': t, 'x.bf16': t.to(torch.bfloat16), 'x.f16': t.to(torch.float16)}, {'format': 'pt'})
            """;
        (await TestSupport.ExternalProcess.RunAsync(TestSupport.ExternalProcess.DebianPython, ["-c", script])).EnsureSuccess("torch writer");
        using var f = SafeTensorFile.Open(path);
        var expected = Enumerable.Range(0, 12).Select(i => i / 7f).ToArray();
        Assert.Equal(expected, f.ReadFloat32("x.weight"));
        var bf = f.ReadFloat32("x.bf16");
        var h = f.ReadFloat32("x.f16");
        for (int i = 0; i < 12; i++)
        {
            Assert.Equal(expected[i], bf[i], 2e-2f * Math.Max(1, expected[i]));
            Assert.Equal((float)(Half)expected[i], h[i]);
        }
    }

    private string WriteRaw(string header, int dataBytes, string name = "bad.safetensors")
    {
        var path = Path.Combine(_dir, name);
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)h.Length);
        h.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Theory]
    [InlineData("""{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}""", 8, "truncated")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}""", 12, "needs 16 bytes")]
    [InlineData("""{"w":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}""", 4, "unknown dtype 'Q9'")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"v":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}""", 6, "overlaps")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "gap")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1]}}""", 4, "data_offsets")]
    [InlineData("""{"w":""", 0, "not valid JSON")]
    public void Malformed_headers_are_rejected_naming_file_and_tensor(string header, int dataBytes, string expected)
    {
        var path = WriteRaw(header, dataBytes);
        var e = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorFile.Open(path).Dispose());
        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
        if (header.Contains("\"w\":{")) Assert.Contains("'", e.Message);
    }

    [Fact]
    public void Header_length_beyond_the_file_is_rejected()
    {
        var path = Path.Combine(_dir, "short.safetensors");
        var bytes = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1000);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorFile.Open(path).Dispose());
        Assert.Contains("does not fit", e.Message);
    }

    [Fact]
    public void Sharded_folder_opens_through_the_index_and_checks_it()
    {
        var folder = Path.Combine(_dir, "sharded");
        Directory.CreateDirectory(folder);
        SafeTensorsWriter.Write(Path.Combine(folder, "model-00001-of-00002.safetensors"), [SafeTensorWriteItem.Float32("a", [1f, 2f], 2)]);
        SafeTensorsWriter.Write(Path.Combine(folder, "model-00002-of-00002.safetensors"), [SafeTensorWriteItem.Float32("b", [3f], 1)]);
        var index = Path.Combine(folder, SafeTensorStore.IndexFileName);
        File.WriteAllText(index, """{"metadata":{"total_size":12},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}""");
        using (var store = SafeTensorStore.Open(folder))
        {
            Assert.Equal(new[] { "a", "b" }, store.Names.Order());
            Assert.Equal(new[] { 3f }, store.ReadFloat32("b"));
            var e = Assert.Throws<SafeTensorsFormatException>(() => store.Get("c"));
            Assert.Contains("'c'", e.Message);
        }

        File.WriteAllText(index, """{"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors"}}""");
        var wrong = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorStore.Open(folder).Dispose());
        Assert.Contains("'b'", wrong.Message);

        File.WriteAllText(index, """{"weight_map":{"a":"model-00003-of-00002.safetensors"}}""");
        var missing = Assert.Throws<FileNotFoundException>(() => SafeTensorStore.Open(folder).Dispose());
        Assert.Contains("model-00003-of-00002.safetensors", missing.Message);
    }

    [Fact]
    public void Folder_without_weights_says_what_it_looked_for()
    {
        var e = Assert.Throws<FileNotFoundException>(() => SafeTensorStore.Open(_dir).Dispose());
        Assert.Contains(SafeTensorStore.SingleFileName, e.Message);
    }
}
