using FineTuneLab.Trainer.Models.Modules;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Models;

/// <summary>
/// Every tensor of a model instance, carved from four regions in a fixed order: frozen weights, trainable parameters,
/// their gradients (same layout), and activations. Built once against size counters and once against the arenas.
/// </summary>
internal sealed class ModelLayout
{
    public ModelLayout(ModelConfig c, EngineOptions o, DType matrixDType, ITensorAllocator frozen, ITensorAllocator trainable,
        ITensorAllocator grads, ITensorAllocator acts)
    {
        var f = new ParamFactory(frozen, trainable, grads, matrixDType, o.FullFineTune);
        Factory = f;
        bool gpt2 = c.Family == ModelFamily.Gpt2;
        int C = c.HiddenSize, I = c.IntermediateSize;
        string[] Keys(string key) => gpt2 ? ["transformer." + key, key] : [key];
        ulong salt = 0;

        Linear Lin(string path, string key, int inF, int[] parts, bool bias)
        {
            int outF = parts.Sum();
            var w = o.QuantizeBase
                ? f.Nf4Matrix(path + ".weight", outF, inF, Keys(key + ".weight"), storedTransposed: gpt2)
                : f.Matrix(path + ".weight", outF, inF, Keys(key + ".weight"), storedTransposed: gpt2);
            var b = bias ? f.Vector(path + ".bias", outF, Keys(key + ".bias")) : default;
            LoraAdapter? lora = null;
            if (o.Lora is { } lo && lo.Targets(path))
            {
                var a = f.TrainableMatrix(path + ".lora_A", lo.Rank, inF);
                var bt = f.TrainableMatrix(path + ".lora_B", lo.Rank, outF);
                lora = new LoraAdapter(path, a, bt, parts, lo.Scale, lo.Dropout);
            }
            return new Linear(path, inF, parts, w, b, lora) { SeedSalt = ++salt };
        }

        Norm NormAt(string key, int? size = null)
        {
            var w = f.Vector(key + ".weight", size ?? C, Keys(key + ".weight"));
            var b = c.Norm == NormKind.LayerNorm ? f.Vector(key + ".bias", size ?? C, Keys(key + ".bias")) : default;
            return new Norm(c.Norm, (float)c.NormEps, w, b, c.NormWeightOffset);
        }

        Embed = f.Matrix(gpt2 ? "transformer.wte.weight" : "model.embed_tokens.weight", c.VocabSize, C,
            Keys(gpt2 ? "wte.weight" : "model.embed_tokens.weight"));
        if (gpt2) PositionEmbed = f.Matrix("transformer.wpe.weight", c.MaxPositionEmbeddings, C, Keys("wpe.weight"));

        var specs = new List<LayerSpec>();
        for (int i = 0; i < c.NumLayers; i++)
        {
            if (gpt2)
            {
                string p = $"transformer.h.{i}", k = $"h.{i}";
                var n1 = NormAt($"{k}.ln_1");
                var qkv = Lin($"{p}.attn.c_attn", $"{k}.attn.c_attn", C, [C, C, C], true);
                var o1 = Lin($"{p}.attn.c_proj", $"{k}.attn.c_proj", C, [C], true);
                var n2 = NormAt($"{k}.ln_2");
                var fc = Lin($"{p}.mlp.c_fc", $"{k}.mlp.c_fc", C, [I], true);
                var pr = Lin($"{p}.mlp.c_proj", $"{k}.mlp.c_proj", I, [C], true);
                specs.Add(new LayerSpec(n1, n2, qkv, null, null, null, o1, fc, null, pr));
            }
            else
            {
                string p = $"model.layers.{i}";
                Linear L(string name, int inF, int[] parts, bool bias) => Lin($"{p}.{name}", $"{p}.{name}", inF, parts, bias);
                var n1 = NormAt($"{p}.input_layernorm");
                Linear? qkv = null, q = null, k = null, v = null;
                if (c.FusedProjections) qkv = L("self_attn.qkv_proj", C, [c.QDim, c.KvDim, c.KvDim], c.QkvBias);
                else
                {
                    q = L("self_attn.q_proj", C, [c.QDim], c.QkvBias);
                    k = L("self_attn.k_proj", C, [c.KvDim], c.QkvBias);
                    v = L("self_attn.v_proj", C, [c.KvDim], c.QkvBias);
                }
                var o1 = L("self_attn.o_proj", c.QDim, [C], c.OutputBias);
                var qNorm = c.QkNorm ? NormAt($"{p}.self_attn.q_norm", c.HeadDim) : null;
                var kNorm = c.QkNorm ? NormAt($"{p}.self_attn.k_norm", c.HeadDim) : null;
                // Gemma's post_attention_layernorm norms the attention output; its MLP input norm is pre_feedforward_layernorm
                var postAttention = c.SandwichNorms ? NormAt($"{p}.post_attention_layernorm") : null;
                var n2 = NormAt(c.SandwichNorms ? $"{p}.pre_feedforward_layernorm" : $"{p}.post_attention_layernorm");
                var g = c.FusedProjections ? L("mlp.gate_up_proj", C, [I, I], c.MlpBias) : L("mlp.gate_proj", C, [I], c.MlpBias);
                var u = c.FusedProjections ? null : L("mlp.up_proj", C, [I], c.MlpBias);
                var d = L("mlp.down_proj", I, [C], c.MlpBias);
                var postFeedForward = c.SandwichNorms ? NormAt($"{p}.post_feedforward_layernorm") : null;
                specs.Add(new LayerSpec(n1, n2, qkv, q, k, v, o1, g, u, d)
                    { QNorm = qNorm, KNorm = kNorm, PostAttention = postAttention, PostFeedForward = postFeedForward });
            }
        }
        FinalNorm = NormAt(gpt2 ? "ln_f" : "model.norm");
        Head = c.TieWordEmbeddings ? Embed : f.Matrix("lm_head.weight", c.VocabSize, C, ["lm_head.weight"]);
        if (!c.LearnedPositions)
        {
            RopeCos = f.Constant(new TensorShape(o.RopePositions ?? o.MaxSeq, c.HeadDim));
            RopeSin = f.Constant(new TensorShape(o.RopePositions ?? o.MaxSeq, c.HeadDim));
            if (c.RopeLocalTheta is not null)
            {
                RopeCosLocal = f.Constant(new TensorShape(o.RopePositions ?? o.MaxSeq, c.HeadDim));
                RopeSinLocal = f.Constant(new TensorShape(o.RopePositions ?? o.MaxSeq, c.HeadDim));
            }
        }

        // activations
        int n = o.MaxBatch * o.MaxSeq;
        Ids = acts.Allocate(DType.I32, new TensorShape(n));
        Positions = acts.Allocate(DType.I32, new TensorShape(n));
        Targets = acts.Allocate(DType.I32, new TensorShape(n));
        Segments = acts.Allocate(DType.I32, new TensorShape(n));
        Residual = new Tensor[c.NumLayers + 1];
        for (int i = 0; i <= c.NumLayers; i++) Residual[i] = acts.Allocate(DType.F32, new TensorShape(n, C));
        var layers = new DecoderLayer[c.NumLayers];
        int maxRank = 0;
        for (int i = 0; i < c.NumLayers; i++)
        {
            var sp = specs[i];
            var linears = new[] { sp.Qkv, sp.Q, sp.K, sp.V, sp.O, sp.G, sp.U, sp.D }.Where(l => l?.Lora is not null).Select(l => l!).ToList();
            foreach (var l in linears) maxRank = Math.Max(maxRank, l.Lora!.Rank);
            layers[i] = new DecoderLayer
            {
                Config = c, Index = i, Norm1 = sp.N1, Norm2 = sp.N2, Qkv = sp.Qkv, Q = sp.Q, K = sp.K, V = sp.V, O = sp.O,
                Gate = sp.G, Up = sp.U, Down = sp.D, QNorm = sp.QNorm, KNorm = sp.KNorm, PostAttentionNorm = sp.PostAttention,
                PostFeedForwardNorm = sp.PostFeedForward,
                Acts = new LayerActivations(acts, c, n, o.MaxBatch, o.MaxSeq, linears),
            };
        }
        Layers = layers;
        FinalHidden = acts.Allocate(DType.F32, new TensorShape(n, C));
        FinalMean = acts.Allocate(DType.F32, new TensorShape(n));
        FinalRstd = acts.Allocate(DType.F32, new TensorShape(n));
        Scratch = new BackwardScratch(acts, c, n, maxRank, o.Lora is { Dropout: > 0 });
        LogitsScratch = acts.Allocate(DType.F32, new TensorShape(Math.Min(o.LossChunkRows(c.VocabSize), n), c.VocabSize));
    }

    public ParamFactory Factory { get; }
    public Param Embed { get; }
    public Param PositionEmbed { get; }
    public Param Head { get; }
    public Norm FinalNorm { get; }
    public DecoderLayer[] Layers { get; }
    public Tensor RopeCos { get; }
    public Tensor RopeSin { get; }
    public Tensor RopeCosLocal { get; }
    public Tensor RopeSinLocal { get; }
    public Tensor Ids { get; }
    public Tensor Positions { get; }
    public Tensor Targets { get; }
    public Tensor Segments { get; }
    public Tensor[] Residual { get; }
    public Tensor FinalHidden { get; }
    public Tensor FinalMean { get; }
    public Tensor FinalRstd { get; }
    public BackwardScratch Scratch { get; }
    public Tensor LogitsScratch { get; }
}

/// <summary>One layer's modules, in the checkpoint order they are allocated in.</summary>
internal sealed record LayerSpec(Norm N1, Norm N2, Linear? Qkv, Linear? Q, Linear? K, Linear? V, Linear O, Linear G, Linear? U, Linear D)
{
    public Norm? QNorm { get; init; }
    public Norm? KNorm { get; init; }
    public Norm? PostAttention { get; init; }
    public Norm? PostFeedForward { get; init; }
}
