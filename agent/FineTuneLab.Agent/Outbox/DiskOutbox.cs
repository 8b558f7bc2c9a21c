using System.Buffers.Binary;
using Google.Protobuf;
using FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Agent.Outbox;

/// <summary>
/// The agent's on-disk outbox: everything the coordinator must persist is appended here first, with a sequence
/// number that strictly increases over the agent's whole life, and stays until the coordinator acks a sequence
/// number at or above it. A coordinator restart or a network cut therefore loses nothing; re-sending after a
/// reconnect may send an item twice, which the coordinator ignores (it stores by agent + seq).
///
/// Layout: <c>DIR/seg-&lt;first seq&gt;.log</c> segment files of records <c>[u32 length][u64 seq][AgentMessage]</c>,
/// and <c>DIR/acked</c> holding the highest acked seq. A record torn by a crash ends a segment; it was never acked,
/// and its item is lost only if the crash came before the append returned (the producer then never saw it written).
/// </summary>
public sealed class DiskOutbox : IDisposable
{
    private const int HeaderSize = 12;
    private readonly string _dir;
    private readonly long _segmentBytes;
    private readonly object _gate = new();
    private readonly List<Segment> _segments = [];
    private readonly SortedDictionary<ulong, AgentMessage> _pending = new();
    private FileStream? _active;
    private ulong _lastSeq;
    private ulong _acked;

    private sealed record Segment(ulong FirstSeq, string Path)
    {
        public ulong LastSeq { get; set; }
    }

    public DiskOutbox(string directory, long segmentBytes = 4 << 20)
    {
        _dir = directory;
        _segmentBytes = segmentBytes;
        Directory.CreateDirectory(directory);
        _acked = ReadAcked();
        _lastSeq = _acked;
        foreach (var path in Directory.GetFiles(directory, "seg-*.log").OrderBy(SegmentFirstSeq))
            LoadSegment(path);
    }

    /// <summary>The highest sequence number ever assigned.</summary>
    public ulong LastSeq { get { lock (_gate) return _lastSeq; } }

    /// <summary>The highest sequence number the coordinator has acknowledged as persisted.</summary>
    public ulong AckedSeq { get { lock (_gate) return _acked; } }

    public int PendingCount { get { lock (_gate) return _pending.Count; } }

    /// <summary>
    /// Stamps the next sequence number on the message's single item and hands the record to the OS, which keeps it
    /// through an agent crash (an fsync per item would cost too much at telemetry rates).
    /// </summary>
    public ulong Append(AgentMessage message)
    {
        lock (_gate)
        {
            var seq = _lastSeq + 1;
            OutboxRecord.Stamp(message, seq);
            var payload = message.ToByteArray();
            var record = new byte[HeaderSize + payload.Length];
            BinaryPrimitives.WriteUInt32LittleEndian(record, (uint)payload.Length);
            BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(4), seq);
            payload.CopyTo(record, HeaderSize);

            var active = ActiveSegment(seq);
            active.Write(record);
            active.Flush(flushToDisk: false);
            _segments[^1].LastSeq = seq;
            _lastSeq = seq;
            _pending[seq] = message;
            return seq;
        }
    }

    /// <summary>Items not yet acknowledged with a sequence number above <paramref name="afterSeq"/>, oldest first.</summary>
    public IReadOnlyList<OutboxRecord> Pending(ulong afterSeq, int max)
    {
        lock (_gate)
        {
            var list = new List<OutboxRecord>(Math.Min(max, _pending.Count));
            foreach (var (seq, message) in _pending)
            {
                if (seq <= afterSeq) continue;
                list.Add(new OutboxRecord(seq, message));
                if (list.Count == max) break;
            }
            return list;
        }
    }

    /// <summary>Records the coordinator's ack and deletes segments whose every record is acknowledged.</summary>
    public void Ack(ulong persistedSeq)
    {
        lock (_gate)
        {
            if (persistedSeq <= _acked) return;
            persistedSeq = Math.Min(persistedSeq, _lastSeq);
            _acked = persistedSeq;
            WriteAcked(persistedSeq);
            while (_pending.Count > 0 && _pending.First().Key <= persistedSeq) _pending.Remove(_pending.First().Key);
            // Every segment but the one being written can go once acked through its end.
            while (_segments.Count > 1 && _segments[0].LastSeq <= persistedSeq)
            {
                File.Delete(_segments[0].Path);
                _segments.RemoveAt(0);
            }
        }
    }

    private FileStream ActiveSegment(ulong seq)
    {
        if (_active is not null && _active.Length < _segmentBytes) return _active;
        _active?.Dispose();
        var path = Path.Combine(_dir, $"seg-{seq:D20}.log");
        _active = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        _segments.Add(new Segment(seq, path) { LastSeq = seq - 1 });
        return _active;
    }

    private void LoadSegment(string path)
    {
        var segment = new Segment(SegmentFirstSeq(path), path) { LastSeq = SegmentFirstSeq(path) - 1 };
        var bytes = File.ReadAllBytes(path);
        var offset = 0;
        while (offset + HeaderSize <= bytes.Length)
        {
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(offset));
            var seq = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(offset + 4));
            if (length < 0 || offset + HeaderSize + length > bytes.Length) break; // torn tail
            AgentMessage message;
            try { message = AgentMessage.Parser.ParseFrom(bytes, offset + HeaderSize, length); }
            catch (InvalidProtocolBufferException) { break; }
            offset += HeaderSize + length;
            segment.LastSeq = seq;
            _lastSeq = Math.Max(_lastSeq, seq);
            if (seq > _acked) _pending[seq] = message;
        }
        if (offset < bytes.Length)
        {
            // Drop the torn tail so later appends start on a record boundary.
            using var f = new FileStream(path, FileMode.Open, FileAccess.Write);
            f.SetLength(offset);
        }
        if (segment.LastSeq >= segment.FirstSeq && segment.LastSeq <= _acked) File.Delete(path);
        else _segments.Add(segment);
    }

    private static ulong SegmentFirstSeq(string path) =>
        ulong.Parse(Path.GetFileNameWithoutExtension(path).AsSpan("seg-".Length));

    private ulong ReadAcked()
    {
        var file = Path.Combine(_dir, "acked");
        return File.Exists(file) && ulong.TryParse(File.ReadAllText(file).Trim(), out var v) ? v : 0;
    }

    private void WriteAcked(ulong seq)
    {
        var file = Path.Combine(_dir, "acked");
        var tmp = file + ".tmp";
        File.WriteAllText(tmp, seq.ToString(System.Globalization.CultureInfo.InvariantCulture));
        File.Move(tmp, file, overwrite: true);
    }

    public void Dispose()
    {
        lock (_gate) _active?.Dispose();
    }
}
