using System.CommandLine;
using System.Diagnostics;
using System.Text;
using FineTuneLab.Trainer.Tokenizers;

namespace FineTuneLab.Trainer.Cli.Commands;

/// <summary><c>ftl-train tokenize</c>: encodes each item of a corpus file (one item per line, \n \r \\ escapes) and
/// prints one JSON array of ids per item.</summary>
internal static class TokenizeCommand
{
    public static Command Create()
    {
        var tokenizerOption = new Option<string>("--tokenizer") { Description = "tokenizer.json, or a model folder holding it", Required = true };
        var inputOption = new Option<string>("--input") { Description = "corpus file: one item per line; \\n, \\r and \\\\ are escapes", Required = true };
        var specialOption = new Option<bool>("--special") { Description = "add the model's special tokens (BOS/EOS) through the post-processor" };
        var timingOption = new Option<bool>("--timing") { Description = "encode single-threaded, print no ids, report load time and MB/s on stderr" };
        var repeatOption = new Option<int>("--repeat") { Description = "with --timing: encode the corpus this many times and keep the best run", DefaultValueFactory = _ => 1 };

        var command = new Command("tokenize", "Encode a corpus with a Hugging Face tokenizer.json, one JSON array of ids per item");
        command.Options.Add(tokenizerOption);
        command.Options.Add(inputOption);
        command.Options.Add(specialOption);
        command.Options.Add(timingOption);
        command.Options.Add(repeatOption);
        command.SetAction(parseResult =>
        {
            var tokenizerPath = parseResult.GetValue(tokenizerOption)!;
            var inputPath = parseResult.GetValue(inputOption)!;
            var special = parseResult.GetValue(specialOption);
            try
            {
                var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                var loadWatch = Stopwatch.StartNew();
                var tokenizer = HfTokenizer.Load(tokenizerPath);
                loadWatch.Stop();
                var loadCpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
                var items = TokenizerCorpus.ReadItems(inputPath);
                if (parseResult.GetValue(timingOption))
                    return Time(tokenizer, items, special, loadWatch.Elapsed, loadCpu, Math.Max(1, parseResult.GetValue(repeatOption)));

                using var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false), 1 << 16);
                var ids = new List<int>();
                var sb = new StringBuilder();
                foreach (var item in items)
                {
                    ids.Clear();
                    tokenizer.EncodeInto(item, ids, special);
                    sb.Clear().Append('[');
                    for (var i = 0; i < ids.Count; i++)
                    {
                        if (i > 0) sb.Append(',');
                        sb.Append(ids[i]);
                    }
                    stdout.WriteLine(sb.Append(']'));
                }
                return 0;
            }
            catch (Exception e) when (e is TokenizerFormatException or IOException or DecoderFallbackException)
            {
                Console.Error.WriteLine($"ftl-train tokenize: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static int Time(HfTokenizer tokenizer, List<string> items, bool special, TimeSpan load, TimeSpan loadCpu, int repeat)
    {
        long bytes = 0;
        foreach (var item in items) bytes += Encoding.UTF8.GetByteCount(item);
        var ids = new List<int>();
        var best = double.MaxValue;
        long tokens = 0;
        for (var r = 0; r < repeat; r++)
        {
            tokens = 0;
            var watch = Stopwatch.StartNew();
            foreach (var item in items)
            {
                ids.Clear();
                tokenizer.EncodeInto(item, ids, special);
                tokens += ids.Count;
            }
            best = Math.Min(best, watch.Elapsed.TotalSeconds);
        }
        Console.Error.WriteLine($"load_s={load.TotalSeconds:F3} load_cpu_s={loadCpu.TotalSeconds:F3} bytes={bytes} items={items.Count} tokens={tokens} best_s={best:F3} mb_per_s={bytes / 1e6 / best:F2}");
        return 0;
    }
}
