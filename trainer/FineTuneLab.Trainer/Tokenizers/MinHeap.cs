namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>A binary min-heap of longs (BPE merge candidates packed as rank &lt;&lt; 32 | position), reused across words.</summary>
internal sealed class MinHeap
{
    private long[] _items = new long[64];

    public int Count { get; private set; }

    public void Clear() => Count = 0;

    public void Push(long value)
    {
        if (Count == _items.Length) Array.Resize(ref _items, _items.Length * 2);
        var items = _items;
        var i = Count++;
        while (i > 0)
        {
            var parent = (i - 1) >> 1;
            if (items[parent] <= value) break;
            items[i] = items[parent];
            i = parent;
        }
        items[i] = value;
    }

    public long Pop()
    {
        var items = _items;
        var top = items[0];
        var last = items[--Count];
        var n = Count;
        var i = 0;
        while (true)
        {
            var child = 2 * i + 1;
            if (child >= n) break;
            if (child + 1 < n && items[child + 1] < items[child]) child++;
            if (items[child] >= last) break;
            items[i] = items[child];
            i = child;
        }
        if (n > 0) items[i] = last;
        return top;
    }
}
