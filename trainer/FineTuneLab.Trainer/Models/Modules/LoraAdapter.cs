namespace FineTuneLab.Trainer.Models.Modules;

/// <summary>The two low-rank factors of one adapted linear layer: A [r, in], B [out, r], trained in F32.</summary>
public sealed class LoraAdapter(string modulePath, Param a, Param b, float scale, float dropout)
{
    public string ModulePath { get; } = modulePath;
    public Param A { get; } = a;
    public Param B { get; } = b;
    public float Scale { get; } = scale;
    public float Dropout { get; } = dropout;
    public int Rank => A.Value.Dim(0);

    public string PeftKeyA => $"base_model.model.{ModulePath}.lora_A.weight";
    public string PeftKeyB => $"base_model.model.{ModulePath}.lora_B.weight";
}
