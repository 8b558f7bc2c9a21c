namespace FineTuneLab.Fuzz;

/// <summary>
/// One parser under fuzz: <see cref="Run"/> feeds it an input and returns normally when the parser accepts it or
/// refuses it the documented way (its own format exception, with a message). Anything else escaping (an
/// IndexOutOfRangeException, a NullReferenceException, a hang, a stack overflow) is a bug: afl-fuzz records it as a crash.
/// </summary>
public sealed record FuzzTarget(string Name, string What, Action<byte[], Scratch> Run);

/// <summary>A per-process folder for targets whose parser reads a file or a folder (written again for every input).</summary>
public sealed class Scratch : IDisposable
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("ftl-fuzz-").FullName;

    public string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(Dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public void Dispose() => Directory.Delete(Dir, recursive: true);
}
