namespace FineTuneLab.Trainer;

/// <summary>Versions of the trainer's stable contracts (job spec, event stream, checkpoint layout).</summary>
public static class TrainerInfo
{
    public const int EventSchemaVersion = FineTuneLab.Events.EventSchema.Version;
}
