using System.IO.MemoryMappedFiles;
using System.Runtime.CompilerServices;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>A file's bytes mapped read-only into memory: a large tokenizer.json is read in place from the page cache,
/// with no copy and no managed array of its size. Whoever reads <see cref="Span"/> on another thread must have stopped
/// before <see cref="Dispose"/>.</summary>
internal sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _pointer;

    private MappedFile(MemoryMappedFile? map, MemoryMappedViewAccessor? view, int length)
    {
        _map = map;
        _view = view;
        Length = length;
        if (view is null) return;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref _pointer);
        _pointer += view.PointerOffset;
    }

    /// <summary>Maps <paramref name="path"/>; IOException when it cannot be read (or is 2 GB or more).</summary>
    public static MappedFile Open(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        var length = stream.Length;
        if (length > int.MaxValue) throw new IOException($"{length} bytes is more than a tokenizer.json can be");
        if (length == 0) return new MappedFile(null, null, 0);
        var map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        try
        {
            return new MappedFile(map, map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read), (int)length);
        }
        catch
        {
            map.Dispose();
            throw;
        }
    }

    public int Length { get; }

    public ReadOnlySpan<byte> Span
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _pointer is null ? [] : new ReadOnlySpan<byte>(_pointer, Length);
    }

    public void Dispose()
    {
        if (_pointer is not null)
        {
            _pointer = null;
            _view!.SafeMemoryMappedViewHandle.ReleasePointer();
        }
        _view?.Dispose();
        _map?.Dispose();
    }
}
