using FineTuneLab.Fuzz;
using SharpFuzz;

// ftl-fuzz: the fuzz targets (docs/fuzzing.md). `ftl-fuzz TARGET` is what afl-fuzz runs (scripts/fuzz starts it,
// with the trainer's assemblies instrumented); `ftl-fuzz TARGET --replay FILE|DIR...` runs inputs in this process and
// prints the first exception a target lets escape (regressions, crashes to triage); `ftl-fuzz --list` names the targets.
if (args is ["--list"])
{
    foreach (var t in FuzzTargets.All) Console.WriteLine($"{t.Name}\t{t.What}");
    return 0;
}
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: ftl-fuzz TARGET [--replay FILE|DIR...] | --list");
    return 2;
}
FuzzTarget target;
try { target = FuzzTargets.Find(args[0]); }
catch (ArgumentException e) { Console.Error.WriteLine(e.Message); return 2; }

using var scratch = new Scratch();
if (args.Length > 1 && args[1] == "--replay")
{
    var files = args.Skip(2).SelectMany(p => Directory.Exists(p) ? Directory.GetFiles(p, "*", SearchOption.AllDirectories) : [p]).Order(StringComparer.Ordinal).ToList();
    foreach (var file in files)
    {
        try
        {
            target.Run(File.ReadAllBytes(file), scratch);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"{file}: {e}");
            return 1;
        }
    }
    Console.WriteLine($"{target.Name}: {files.Count} input(s), none escaped");
    return 0;
}
Fuzzer.OutOfProcess.Run(stream =>
{
    using var buffer = new MemoryStream();
    stream.CopyTo(buffer);
    target.Run(buffer.ToArray(), scratch);
});
return 0;
