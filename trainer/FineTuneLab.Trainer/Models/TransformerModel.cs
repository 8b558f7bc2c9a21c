using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Models.Modules;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Models;

/// <summary>
/// A decoder-only language model (Llama, Mistral, Qwen2, Qwen3, Gemma 3, Phi-3, GPT-2) on one backend, with explicit forward and backward.
/// All memory — frozen weights, trainable parameters, gradients, activations — is allocated once, here; a training
/// step allocates nothing. Trainable parameters and gradients each form one flat region with identical layout, which
/// is what the optimizer and gradient clipping run over.
/// </summary>
public sealed class TransformerModel : IDisposable
{
    private readonly ModelLayout _l;
    private readonly Arena _frozen, _trainable, _grads, _acts;
    private readonly NativeBuffer _hostInts;
    private readonly StepContext _ctx;
    private int _validTokens;

    public TransformerModel(ModelConfig config, IBackend backend, EngineOptions options, DType matrixDType)
    {
        options.Validate();
        if (options.MaxSeq > config.MaxPositionEmbeddings && config.LearnedPositions)
            throw new ArgumentException($"sequence length {options.MaxSeq} exceeds the model's {config.MaxPositionEmbeddings} learned positions");
        // transformers picks longrope's short factors while every position is below original_max_position_embeddings and
        // the long ones beyond, batch by batch; one RoPE table serves a whole instance, so it must stay on the short side
        if (config.RopeLongRope is { } lr && (options.RopePositions ?? options.MaxSeq) > lr.OriginalMaxPositionEmbeddings)
            throw new ArgumentException($"{config.Architecture} with longrope scaling: sequences of up to {options.RopePositions ?? options.MaxSeq} positions " +
                $"exceed original_max_position_embeddings {lr.OriginalMaxPositionEmbeddings}, beyond which transformers switches to the long factors " +
                $"per batch; train and generate with at most {lr.OriginalMaxPositionEmbeddings} positions");
        Config = config;
        Backend = backend;
        Options = options;
        MatrixDType = options.FullFineTune ? DType.F32 : matrixDType;

        var counters = new[] { new SizeCounter(), new SizeCounter(), new SizeCounter(), new SizeCounter() };
        _ = new ModelLayout(config, options, MatrixDType, counters[0], counters[1], counters[2], counters[3]);
        Arena Make(string name, long bytes) => new(name, backend.AllocateMemory(Math.Max(bytes, NativeBuffer.Alignment)), ownsBlock: true);
        _frozen = Make("frozen weights", counters[0].Bytes);
        _trainable = Make("trainable parameters", counters[1].Bytes);
        _grads = Make("gradients", counters[2].Bytes);
        _acts = Make("activations", counters[3].Bytes);
        _l = new ModelLayout(config, options, MatrixDType, new ArenaAllocator(_frozen), new ArenaAllocator(_trainable),
            new ArenaAllocator(_grads), new ArenaAllocator(_acts));
        if (_trainable.Used != _grads.Used) throw new InvalidOperationException("trainable and gradient regions diverged");

        Adapters = _l.Layers.SelectMany(x => x.Linears).Where(x => x.Lora is not null).Select(x => x.Lora!).ToList();
        if (options.Lora is { } lo && Adapters.Count == 0)
            throw new ArgumentException($"LoRA target modules [{string.Join(", ", lo.TargetModules)}] match no linear layer of this {config.Architecture}");

        _hostInts = new NativeBuffer((long)options.MaxBatch * options.MaxSeq * sizeof(int));
        _ctx = new StepContext(backend, _l.Scratch) { RopeCos = _l.RopeCos, RopeSin = _l.RopeSin, RopeCosLocal = _l.RopeCosLocal, RopeSinLocal = _l.RopeSinLocal };
        EmbeddingScale = config.ScaleEmbeddings ? RoundTo(matrixDType, MathF.Sqrt(config.HiddenSize)) : 1f;
        if (!config.LearnedPositions) FillRopeTables();
    }

    public ModelConfig Config { get; }
    /// <summary>
    /// What the token embeddings are multiplied by: 1, or Gemma's sqrt(hidden_size) in the checkpoint's dtype
    /// (transformers casts it to the embedding weight's dtype: sqrt(3072) = 55.4256 becomes 55.5 in bf16).
    /// </summary>
    public float EmbeddingScale { get; }

    private static float RoundTo(DType dtype, float value) => dtype switch
    {
        DType.BF16 => HalfConvert.Bf16ToFloat(HalfConvert.FloatToBf16(value)),
        DType.F16 => HalfConvert.F16ToFloat(HalfConvert.FloatToF16(value)),
        _ => value,
    };
    public IBackend Backend { get; }
    public EngineOptions Options { get; }
    public DType MatrixDType { get; }
    public IReadOnlyList<LoraAdapter> Adapters { get; }
    public IReadOnlyList<Param> Trainables => _l.Factory.Trainables;
    public IReadOnlyList<WeightSource> WeightSources => _l.Factory.Sources;

    /// <summary>Every trainable parameter as one flat F32 tensor; <see cref="GradientsFlat"/> lines up with it element for element.</summary>
    public Tensor ParametersFlat => _trainable.UsedAsFlat(DType.F32);
    public Tensor GradientsFlat => _grads.UsedAsFlat(DType.F32);

    /// <summary>The modules and tensors, for code that runs the same modules over its own buffers (incremental decoding with a KV cache).</summary>
    internal ModelLayout Layout => _l;

    /// <summary>
    /// The four arena sizes (frozen weights, trainable parameters, gradients, activations) this configuration would
    /// allocate, computed by laying the model out against counters only: nothing is allocated (memory planning).
    /// </summary>
    public static (long Frozen, long Trainable, long Gradients, long Activations) MeasureArenas(ModelConfig config, EngineOptions options, DType matrixDType)
    {
        options.Validate();
        var dtype = options.FullFineTune ? DType.F32 : matrixDType;
        var counters = new[] { new SizeCounter(), new SizeCounter(), new SizeCounter(), new SizeCounter() };
        _ = new ModelLayout(config, options, dtype, counters[0], counters[1], counters[2], counters[3]);
        long Size(SizeCounter c) => Math.Max(c.Bytes, NativeBuffer.Alignment);
        return (Size(counters[0]), Size(counters[1]), Size(counters[2]), Size(counters[3]));
    }

    public long FrozenBytes => _frozen.Capacity;
    public long TrainableBytes => _trainable.Capacity;
    public long ActivationBytes => _acts.Capacity;
    public long TrainableCount => Trainables.Sum(p => p.Value.Count);

    /// <summary>Reads config.json and the safetensors weights of a Hugging Face folder (memory-mapped, converted once into the frozen region).</summary>
    public static TransformerModel FromFolder(string folder, IBackend backend, EngineOptions options)
    {
        var config = HfConfig.Load(folder);
        using var store = SafeTensorStore.Open(folder);
        var dtype = options.WeightDType ?? StoredMatrixDType(store, config);
        var model = new TransformerModel(config, backend, options, dtype);
        try
        {
            model.LoadWeights(store);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    private static DType StoredMatrixDType(SafeTensorStore store, ModelConfig config)
    {
        var key = new[] { "model.embed_tokens.weight", "transformer.wte.weight", "wte.weight" }.FirstOrDefault(store.Contains);
        return key is null ? DType.F32 : store.Get(key).DType switch
        {
            SafeTensorDType.BF16 => DType.BF16,
            SafeTensorDType.F16 => DType.F16,
            _ => DType.F32,
        };
    }

    private void FillRopeTables()
    {
        RopeScaling? scaling = Config.RopeLlama3 is { } s
            ? new RopeScaling.Llama3(s.Factor, s.LowFreqFactor, s.HighFreqFactor, s.OriginalMaxPositionEmbeddings)
            : Config.RopeLinearFactor != 1.0 ? new RopeScaling.Linear(Config.RopeLinearFactor) : null;
        float attentionScaling = 1f;
        if (Config.RopeLongRope is { } lr)
        {
            scaling = new RopeScaling.LongRope(lr.ShortFactor);
            attentionScaling = (float)lr.AttentionFactor;
        }
        FillRopeTables(_l.RopeCos, _l.RopeSin, Config.RopeTheta, scaling, attentionScaling);
        // Gemma 3's local layers: their own base, no scaling
        if (Config.RopeLocalTheta is { } local) FillRopeTables(_l.RopeCosLocal, _l.RopeSinLocal, local, null, 1f);
    }

    private void FillRopeTables(Tensor cosTable, Tensor sinTable, double theta, RopeScaling? scaling, float attentionScaling)
    {
        using var host = new NativeBuffer(2 * cosTable.Bytes);
        var cos = new Tensor(host.Pointer, DType.F32, cosTable.Shape);
        var sin = new Tensor(host.Pointer + (nint)cosTable.Bytes, DType.F32, cosTable.Shape);
        RopeTables.Fill(cos, sin, theta, scaling, attentionScaling);
        Backend.Upload(cos, cosTable);
        Backend.Upload(sin, sinTable);
    }

    /// <summary>Copies every weight from the checkpoint, converting dtype and un-transposing GPT-2's Conv1D; names the missing or misshapen tensor.</summary>
    public void LoadWeights(SafeTensorStore store)
    {
        foreach (var src in WeightSources)
        {
            var key = src.Keys.FirstOrDefault(store.Contains)
                ?? throw new SafeTensorsFormatException($"{store.Location}: weight '{src.Keys[0]}' is missing ({Config.Architecture} needs it for {src.Param.Name})");
            if (src.Param.IsNf4 && Quantization.Bnb4BitFormat.IsQuantized(store, key))
            {
                if (src.StoredTransposed)
                    throw new SafeTensorsFormatException($"{store.Location}: '{key}' is a bitsandbytes 4-bit Conv1D weight; quantize it from the float checkpoint instead");
                var q = Quantization.Bnb4BitFormat.Read(store, key);
                var nf = src.Param.Nf4;
                if (q.Shape.Length != 2 || q.Shape[0] != nf.Rows || q.Shape[1] != nf.Cols)
                    throw new SafeTensorsFormatException($"{store.FileOf(key).Path}: NF4 weight '{key}' has shape [{string.Join(", ", q.Shape)}], expected [{nf.Rows}, {nf.Cols}]");
                Quantization.Nf4Weights.Write(Backend, nf, q);
                continue;
            }
            var info = store.Get(key);
            var shape = src.Param.IsNf4 ? new TensorShape(src.Param.Nf4.Rows, src.Param.Nf4.Cols) : src.Param.Value.Shape;
            long[] expected = shape.Rank == 1 ? [shape[0]] : src.StoredTransposed ? [shape[1], shape[0]] : [shape[0], shape[1]];
            if (!info.Shape.AsSpan().SequenceEqual(expected))
                throw new SafeTensorsFormatException($"{info.File}: tensor '{key}' has shape {info.ShapeText}, expected [{string.Join(", ", expected)}]");
            var values = new float[info.ElementCount];
            store.ReadFloat32(key, values);
            if (src.StoredTransposed && shape.Rank == 2) values = Transpose(values, shape[1], shape[0]);
            WriteWeight(src.Param, values);
        }
    }

    /// <summary>Writes fp32 values into a frozen weight, quantizing to NF4 (bitsandbytes' algorithm) when it is held so.</summary>
    private void WriteWeight(Param p, float[] values)
    {
        if (p.IsNf4) Quantization.Nf4Weights.Write(Backend, p.Nf4, Quantization.Nf4.Quantize(values, [p.Nf4.Rows, p.Nf4.Cols]));
        else HostTransfer.Write(Backend, p.Value, values);
    }

    /// <summary>Bits of quantized storage per parameter over the NF4 matrices (codes, absmax codes, nested absmax; 0 when none).</summary>
    public double Nf4BitsPerParameter
    {
        get
        {
            var m = WeightSources.Where(s => s.Param.IsNf4).Select(s => s.Param.Nf4).ToList();
            if (m.Count == 0) return 0;
            double bits = m.Sum(x => 8.0 * (x.Packed.Bytes + x.AbsmaxCodes.Bytes + x.NestedAbsmax.Bytes));
            return bits / m.Sum(x => (double)x.Rows * x.Cols);
        }
    }

    /// <summary>Turns every LoRA adapter on or off: off runs the frozen base model alone (DPO's reference policy).</summary>
    public void SetLoraEnabled(bool enabled)
    {
        foreach (var ad in Adapters) ad.Enabled = enabled;
    }

    private static float[] Transpose(float[] m, int rows, int cols)
    {
        var t = new float[m.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                t[c * rows + r] = m[r * cols + c];
        return t;
    }

    /// <summary>Random frozen weights (benchmarks): matrices U(-s, s) with s = 1/sqrt(fan_in), norm weights 1, biases 0.</summary>
    public void InitRandomWeights(ulong seed)
    {
        var rng = new SplitMix64(seed);
        foreach (var src in WeightSources)
        {
            var t = src.Param.Value;
            var shape = src.Param.IsNf4 ? new TensorShape(src.Param.Nf4.Rows, src.Param.Nf4.Cols) : t.Shape;
            var values = new float[shape.Count];
            if (shape.Rank == 2)
            {
                float bound = 1f / MathF.Sqrt(shape[1]);
                for (int i = 0; i < values.Length; i++) values[i] = rng.Uniform(-bound, bound);
            }
            else if (src.Keys[0].EndsWith(".weight", StringComparison.Ordinal)) Array.Fill(values, 1f);
            WriteWeight(src.Param, values);
        }
    }

    /// <summary>PEFT's initialisation: A ~ Kaiming-uniform(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B = 0.</summary>
    public void InitLora(ulong seed)
    {
        var rng = new SplitMix64(seed);
        foreach (var ad in Adapters)
        {
            var a = ad.A.Value;
            var values = new float[a.Count];
            float bound = 1f / MathF.Sqrt(a.Dim(1));
            for (int i = 0; i < values.Length; i++) values[i] = rng.Uniform(-bound, bound);
            HostTransfer.Write(Backend, a, values);
            Backend.Zero(ad.BT.Value);
        }
    }

    /// <summary>Sets every adapter's A and B from PEFT-named tensors (<c>base_model.model.&lt;path&gt;.lora_A.weight</c>).</summary>
    public void LoadLora(SafeTensorStore store)
    {
        foreach (var ad in Adapters)
        {
            foreach (var key in new[] { ad.PeftKeyA, ad.PeftKeyB })
                if (!store.Contains(key))
                    throw new SafeTensorsFormatException($"{store.Location}: LoRA tensor '{key}' is missing");
            var a = new float[ad.A.Value.Count];
            store.ReadFloat32(ad.PeftKeyA, a, ad.PeftShapeA);
            HostTransfer.Write(Backend, ad.A.Value, a);
            var b = new float[ad.BT.Value.Count];
            store.ReadFloat32(ad.PeftKeyB, b, ad.PeftShapeB);
            HostTransfer.Write(Backend, ad.BT.Value, ad.FromPeftB(b));
        }
    }

    /// <summary>An adapter's A and B (or their gradients) in PEFT's layout: A [r, in], B [out, r].</summary>
    public (float[] A, float[] B) ReadLora(LoraAdapter adapter, bool gradients = false)
    {
        var a = HostTransfer.Read(Backend, gradients ? adapter.A.Grad : adapter.A.Value);
        var bt = HostTransfer.Read(Backend, gradients ? adapter.BT.Grad : adapter.BT.Value);
        return (a, adapter.ToPeftB(bt));
    }

    /// <summary>
    /// Stages a micro-batch: ids and labels are [batch, seq] row-major; labels unshifted (HF), -100 ignored. Returns
    /// how many tokens the loss counts (labels[:, 1:] that are not -100). Packed sequences also pass
    /// <paramref name="positionIds"/> (restarting at 0 per example) and <paramref name="segmentIds"/> (attention stays
    /// within a segment); both empty means positions 0..seq-1 and one segment per row.
    /// </summary>
    public int SetBatch(ReadOnlySpan<int> inputIds, ReadOnlySpan<int> labels, int batch, int seq,
        ReadOnlySpan<int> positionIds = default, ReadOnlySpan<int> segmentIds = default)
    {
        if (batch <= 0 || batch > Options.MaxBatch || seq <= 0 || seq > Options.MaxSeq)
            throw new ArgumentException($"batch {batch} × seq {seq} exceeds the engine's {Options.MaxBatch} × {Options.MaxSeq}");
        int n = batch * seq;
        if (inputIds.Length != n || labels.Length != n)
            throw new ArgumentException($"expected {n} input ids and labels, got {inputIds.Length} and {labels.Length}");
        if (Config.LearnedPositions && seq > Config.MaxPositionEmbeddings)
            throw new ArgumentException($"sequence length {seq} exceeds the model's {Config.MaxPositionEmbeddings} positions");
        var host = _hostInts.AsTensor(DType.I32, new TensorShape(n)).AsInt32();
        foreach (var id in inputIds)
            if ((uint)id >= (uint)Config.VocabSize)
                throw new ArgumentException($"token id {id} is outside the vocabulary (size {Config.VocabSize})");
        var staging = _hostInts.AsTensor(DType.I32, new TensorShape(n));
        HostTransfer.WriteInts(Backend, _l.Ids.Slice(0, n), inputIds, staging);
        if (!positionIds.IsEmpty && positionIds.Length != n) throw new ArgumentException($"expected {n} position ids, got {positionIds.Length}");
        if (!segmentIds.IsEmpty && segmentIds.Length != n) throw new ArgumentException($"expected {n} segment ids, got {segmentIds.Length}");
        for (int i = 0; i < n; i++)
        {
            host[i] = positionIds.IsEmpty ? i % seq : positionIds[i];
            if ((uint)host[i] >= (uint)Options.MaxSeq) throw new ArgumentException($"position id {host[i]} at {i} is outside [0, {Options.MaxSeq})");
        }
        HostTransfer.WriteInts(Backend, _l.Positions.Slice(0, n), host, staging);
        if (!segmentIds.IsEmpty) HostTransfer.WriteInts(Backend, _l.Segments.Slice(0, n), segmentIds, staging);
        _ctx.SegmentIds = segmentIds.IsEmpty ? default : _l.Segments.Slice(0, n);
        int valid = 0;
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < seq; t++)
            {
                int target = t + 1 < seq ? labels[b * seq + t + 1] : CrossEntropyResult.IgnoreIndex;
                if (target != CrossEntropyResult.IgnoreIndex && (uint)target >= (uint)Config.VocabSize)
                    throw new ArgumentException($"label {target} at [{b}, {t + 1}] is outside the vocabulary (size {Config.VocabSize})");
                host[b * seq + t] = target;
                if (target != CrossEntropyResult.IgnoreIndex) valid++;
            }
        HostTransfer.WriteInts(Backend, _l.Targets.Slice(0, n), host, staging);
        _ctx.Batch = batch;
        _ctx.Seq = seq;
        _ctx.Positions = _l.Positions.Slice(0, n);
        _validTokens = valid;
        return valid;
    }

    /// <summary>
    /// Runs the staged micro-batch forward and, when <paramref name="backward"/>, backward, accumulating into the
    /// gradients. The loss gradient is scaled by <paramref name="gradScale"/> (1/valid tokens for a plain mean;
    /// divide further by the accumulation steps). <paramref name="dropoutSeed"/> draws the LoRA dropout masks.
    /// </summary>
    public CrossEntropyResult Run(bool backward, float gradScale, ulong dropoutSeed = 0)
    {
        var be = Backend;
        var c = _ctx;
        int n = c.Tokens;
        if (n == 0) throw new InvalidOperationException("no batch staged: call SetBatch first");
        c.DropoutSeed = dropoutSeed;
        c.DropoutActive = backward;
        var ids = _l.Ids.Slice(0, n);
        Embed(ids, c.Positions, c.Rows(_l.Residual[0]));
        for (int i = 0; i < _l.Layers.Length; i++)
            _l.Layers[i].Forward(c, c.Rows(_l.Residual[i]), c.Rows(_l.Residual[i + 1]));
        var xLast = c.Rows(_l.Residual[^1]);
        var hF = c.Rows(_l.FinalHidden);
        _l.FinalNorm.Forward(be, xLast, hF, c.Rows(_l.FinalMean), c.Rows(_l.FinalRstd));

        var targets = _l.Targets.Slice(0, n);
        var dH = backward ? c.Rows(_l.Scratch.DH) : default;
        var result = be.LmHeadCrossEntropy(hF, _l.Head.Value, targets, _l.LogitsScratch, gradScale, dH, _l.Head.Grad);
        if (!backward) return result;

        var dRes = c.Rows(_l.Scratch.DResidual);
        _l.FinalNorm.Backward(be, dH, xLast, c.Rows(_l.FinalMean), c.Rows(_l.FinalRstd), dRes, accumulateDx: false);
        for (int i = _l.Layers.Length - 1; i >= 0; i--)
            _l.Layers[i].Backward(c, c.Rows(_l.Residual[i]), dRes);
        if (_l.Embed.Trainable)
        {
            if (EmbeddingScale != 1f) be.Scale(dRes, EmbeddingScale, dRes);
            be.EmbeddingBackward(ids, dRes, _l.Embed.Grad);
        }
        if (_l.PositionEmbed.Trainable) be.EmbeddingBackward(c.Positions, dRes, _l.PositionEmbed.Grad);
        return result;
    }

    /// <summary>x [N, C] = the token embeddings of <paramref name="ids"/> (× Gemma's scale; + the learned position embeddings of GPT-2).</summary>
    internal void Embed(Tensor ids, Tensor positions, Tensor x)
    {
        Backend.EmbeddingForward(ids, _l.Embed.Value, x);
        if (EmbeddingScale != 1f) Backend.Scale(x, EmbeddingScale, x);
        if (Config.LearnedPositions) Backend.EmbeddingForward(positions, _l.PositionEmbed.Value, x, accumulate: true);
    }

    /// <summary>Tokens the loss of the staged micro-batch counts.</summary>
    public int ValidTokens => _validTokens;

    /// <summary>Logits [N, V] of the last forward (from the saved final hidden states), written into <paramref name="destination"/>.</summary>
    public void ComputeLogits(Tensor destination)
    {
        var h = _ctx.Rows(_l.FinalHidden);
        Backend.Gemm(h, false, _l.Head.Value, true, destination);
    }

    /// <summary>Logits of rows [<paramref name="firstRow"/>, +rows) of the last forward (evaluation reads them a chunk at a time).</summary>
    public void ComputeLogits(Tensor destination, int firstRow, int rows)
    {
        var h = _ctx.Rows(_l.FinalHidden).Slice(firstRow, rows);
        Backend.Gemm(h, false, _l.Head.Value, true, destination);
    }

    public int StagedTokens => _ctx.Tokens;

    public void ZeroGradients() => Backend.Zero(_grads.UsedAsFlat(DType.F32));

    public void Dispose()
    {
        _frozen.Dispose();
        _trainable.Dispose();
        _grads.Dispose();
        _acts.Dispose();
        _hostInts.Dispose();
    }
}
