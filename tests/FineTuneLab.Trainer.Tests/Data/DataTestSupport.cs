using System.Text;
using FineTuneLab.Trainer.Tokenizers.Jinja;

namespace FineTuneLab.Trainer.Tests.Data;

internal static class DataTestSupport
{
    public static ChatTemplate ChatMl() => ChatTemplate.Builtin(BuiltinChatFormat.ChatMl,
        new Dictionary<string, string> { ["bos_token"] = "<s>", ["eos_token"] = "<|im_end|>" });

    public static ChatTemplate Llama2Plain() => ChatTemplate.Builtin(BuiltinChatFormat.Llama2,
        new Dictionary<string, string> { ["bos_token"] = "<s>", ["eos_token"] = "</s>" });

    /// <summary>A temp file with exactly these lines (each followed by \n); deleted with the returned handle.</summary>
    public static TempFile WriteLines(IEnumerable<byte[]> lines)
    {
        var path = Path.Combine(Path.GetTempPath(), $"ftl-data-{Guid.NewGuid():N}.jsonl");
        using (var f = File.Create(path))
            foreach (var l in lines)
            {
                f.Write(l);
                f.WriteByte((byte)'\n');
            }
        return new TempFile(path);
    }

    public static TempFile WriteLines(params string[] lines) => WriteLines(lines.Select(Encoding.UTF8.GetBytes));

    public sealed class TempFile(string path) : IDisposable
    {
        public string Path { get; } = path;
        public void Dispose() => File.Delete(Path);
    }
}
