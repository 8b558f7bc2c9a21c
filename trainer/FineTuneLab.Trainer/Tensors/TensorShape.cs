using System.Runtime.CompilerServices;

namespace FineTuneLab.Trainer.Tensors;

/// <summary>A row-major shape of rank 0..4 (the last dimension is contiguous). A value type so tensors stay unmanaged.</summary>
public readonly struct TensorShape : IEquatable<TensorShape>
{
    public const int MaxRank = 4;

    private readonly int _d0, _d1, _d2, _d3;

    public int Rank { get; }

    public TensorShape(int d0) : this(1, d0, 0, 0, 0) { }
    public TensorShape(int d0, int d1) : this(2, d0, d1, 0, 0) { }
    public TensorShape(int d0, int d1, int d2) : this(3, d0, d1, d2, 0) { }
    public TensorShape(int d0, int d1, int d2, int d3) : this(4, d0, d1, d2, d3) { }

    private TensorShape(int rank, int d0, int d1, int d2, int d3)
    {
        Rank = rank;
        _d0 = d0; _d1 = d1; _d2 = d2; _d3 = d3;
        for (var i = 0; i < rank; i++)
            if (this[i] < 0)
                throw new ArgumentOutOfRangeException(nameof(d0), $"negative dimension in shape {this}");
    }

    public static TensorShape Of(ReadOnlySpan<int> dims) => dims.Length switch
    {
        0 => default,
        1 => new TensorShape(dims[0]),
        2 => new TensorShape(dims[0], dims[1]),
        3 => new TensorShape(dims[0], dims[1], dims[2]),
        4 => new TensorShape(dims[0], dims[1], dims[2], dims[3]),
        _ => throw new ArgumentException($"rank {dims.Length} exceeds the maximum of {MaxRank}"),
    };

    public int this[int axis]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if (axis < 0) axis += Rank;
            if ((uint)axis >= (uint)Rank)
                throw new ArgumentOutOfRangeException(nameof(axis), $"axis {axis} out of range for {this}");
            return axis switch { 0 => _d0, 1 => _d1, 2 => _d2, _ => _d3 };
        }
    }

    /// <summary>Number of elements (1 for rank 0).</summary>
    public long Count
    {
        get
        {
            long n = 1;
            for (var i = 0; i < Rank; i++) n *= this[i];
            return n;
        }
    }

    /// <summary>The last dimension (1 for rank 0).</summary>
    public int Last => Rank == 0 ? 1 : this[Rank - 1];

    /// <summary>All leading dimensions multiplied: the row count when the tensor is seen as a [rows, Last] matrix.</summary>
    public long Rows
    {
        get
        {
            long n = 1;
            for (var i = 0; i < Rank - 1; i++) n *= this[i];
            return n;
        }
    }

    /// <summary>The same shape with its first dimension replaced.</summary>
    public TensorShape WithFirst(int d0) => new(Rank, d0, _d1, _d2, _d3);

    public bool Equals(TensorShape other)
    {
        if (Rank != other.Rank) return false;
        for (var i = 0; i < Rank; i++)
            if (this[i] != other[i]) return false;
        return true;
    }

    public override bool Equals(object? obj) => obj is TensorShape s && Equals(s);
    public override int GetHashCode() => HashCode.Combine(Rank, _d0, _d1, _d2, _d3);
    public static bool operator ==(TensorShape a, TensorShape b) => a.Equals(b);
    public static bool operator !=(TensorShape a, TensorShape b) => !a.Equals(b);

    public override string ToString()
    {
        var parts = new string[Rank];
        for (var i = 0; i < Rank; i++) parts[i] = this[i].ToString(System.Globalization.CultureInfo.InvariantCulture);
        return "[" + string.Join(", ", parts) + "]";
    }
}
