using Google.Protobuf.WellKnownTypes;
using E = FineTuneLab.Events;
using P = FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Shared.Protos;

/// <summary>
/// The two forms of one trainer event: the shared record (<see cref="E.TrainerEvent"/>, what the trainer writes as JSONL
/// and <see cref="E.EventJson"/> parses) and the typed protobuf message the agent sends (<see cref="P.TrainerEvent"/>'s
/// oneof). The agent converts at its edge after parsing a line once; the coordinator converts back at its edge.
/// </summary>
public static class TrainerEventMessages
{
    /// <summary>The message for a parsed event; the agent adds its own seq, job id, read time and (on steps) the cost.</summary>
    public static P.TrainerEvent ToMessage(E.TrainerEvent e)
    {
        var m = new P.TrainerEvent { TrainerSeq = (ulong)e.Seq, V = (uint)e.V, Time = Timestamp.FromDateTimeOffset(e.Time) };
        switch (e)
        {
            case E.StartEvent s:
                m.Start = new P.StartEvent
                {
                    Job = s.Job, Device = s.Device, DeviceName = s.DeviceName, DeviceMemoryBytes = s.DeviceMemoryBytes, Threads = s.Threads,
                    TotalSteps = s.TotalSteps, TokensPerEpoch = s.TokensPerEpoch, ResumedFromStep = s.ResumedFromStep,
                };
                if (s.ComputeCapability is { } cc) m.Start.ComputeCapability = cc;
                if (s.DeviceNote is { } note) m.Start.DeviceNote = note;
                break;
            case E.StepEvent s:
                m.Step = new P.StepEvent
                {
                    Step = s.Step, TotalSteps = s.TotalSteps, Epoch = s.Epoch, Loss = s.Loss, Lr = s.Lr, GradNorm = s.GradNorm, TokensPerS = s.TokensPerS,
                    SamplesPerS = s.SamplesPerS, ElapsedS = s.ElapsedS, Tokens = s.Tokens, Memory = Memory(s.Memory), Dpo = Preference(s.Dpo),
                };
                break;
            case E.EvalEvent s:
                m.Eval = new P.EvalEvent { Step = s.Step, EvalLoss = s.EvalLoss, TokenAccuracy = s.TokenAccuracy, Perplexity = s.Perplexity, Tokens = s.Tokens, Dpo = Preference(s.Dpo) };
                break;
            case E.CheckpointEvent s:
                m.Checkpoint = new P.CheckpointEvent { Step = s.Step, Path = s.Path, Bytes = s.Bytes, Sha256 = s.Sha256 };
                break;
            case E.LogEvent s:
                m.Log = new P.LogEvent { Level = s.Level, Message = s.Message };
                break;
            case E.WarningEvent s:
                m.Warning = new P.WarningEvent { Kind = s.Kind, Message = s.Message, Step = s.Step };
                break;
            case E.ErrorEvent s:
                m.Error = new P.ErrorEvent { Message = s.Message };
                if (s.ExceptionType is { } type) m.Error.ExceptionType = type;
                if (s.StackTrace is { } stack) m.Error.StackTrace = stack;
                break;
            case E.DoneEvent s:
                m.Done = new P.DoneEvent { Reason = s.Reason, Step = s.Step, ElapsedS = s.ElapsedS };
                if (s.AdapterPath is { } adapter) m.Done.AdapterPath = adapter;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(e), e.GetType().Name, "not an event type of the contract");
        }
        return m;
    }

    /// <summary>The record a message carries; <see cref="InvalidDataException"/> names what is missing when the message is not a whole event.</summary>
    public static E.TrainerEvent ToRecord(P.TrainerEvent m)
    {
        E.TrainerEvent e = m.EventCase switch
        {
            P.TrainerEvent.EventOneofCase.Start => new E.StartEvent(m.Start.Job, m.Start.Device, m.Start.DeviceName, m.Start.DeviceMemoryBytes,
                m.Start.HasComputeCapability ? m.Start.ComputeCapability : null, m.Start.Threads, m.Start.TotalSteps, m.Start.TokensPerEpoch,
                m.Start.ResumedFromStep) { DeviceNote = m.Start.HasDeviceNote ? m.Start.DeviceNote : null },
            P.TrainerEvent.EventOneofCase.Step => new E.StepEvent(m.Step.Step, m.Step.TotalSteps, m.Step.Epoch, m.Step.Loss, m.Step.Lr, m.Step.GradNorm,
                m.Step.TokensPerS, m.Step.SamplesPerS, m.Step.ElapsedS, m.Step.Tokens,
                Memory(m.Step.Memory ?? throw new InvalidDataException($"trainer event {m.TrainerSeq} (step): field 'memory' is missing")),
                Preference(m.Step.Dpo)),
            P.TrainerEvent.EventOneofCase.Eval => new E.EvalEvent(m.Eval.Step, m.Eval.EvalLoss, m.Eval.TokenAccuracy, m.Eval.Perplexity, m.Eval.Tokens, Preference(m.Eval.Dpo)),
            P.TrainerEvent.EventOneofCase.Checkpoint => new E.CheckpointEvent(m.Checkpoint.Step, m.Checkpoint.Path, m.Checkpoint.Bytes, m.Checkpoint.Sha256),
            P.TrainerEvent.EventOneofCase.Log => new E.LogEvent(m.Log.Level, m.Log.Message),
            P.TrainerEvent.EventOneofCase.Warning => new E.WarningEvent(m.Warning.Kind, m.Warning.Message, m.Warning.Step),
            P.TrainerEvent.EventOneofCase.Error => new E.ErrorEvent(m.Error.Message, m.Error.HasExceptionType ? m.Error.ExceptionType : null,
                m.Error.HasStackTrace ? m.Error.StackTrace : null),
            P.TrainerEvent.EventOneofCase.Done => new E.DoneEvent(m.Done.Reason, m.Done.Step, m.Done.HasAdapterPath ? m.Done.AdapterPath : null, m.Done.ElapsedS),
            _ => throw new InvalidDataException($"trainer event {m.TrainerSeq} of job {m.JobId} carries no event (oneof 'event' unset)"),
        };
        if (m.V < 1 || m.V > E.EventSchema.Version)
            throw new InvalidDataException($"trainer event {m.TrainerSeq}: schema v{m.V} is not one this reader knows (1..{E.EventSchema.Version})");
        if (m.TrainerSeq < 1) throw new InvalidDataException($"trainer event of job {m.JobId}: field 'trainer_seq' must be at least 1");
        return e with { V = (int)m.V, Seq = (long)m.TrainerSeq, Time = (m.Time ?? m.At ?? throw new InvalidDataException($"trainer event {m.TrainerSeq}: field 'time' is missing")).ToDateTimeOffset() };
    }

    private static P.MemoryFigures Memory(E.MemoryFigures f) => new()
    {
        RssBytes = f.RssBytes, PeakRssBytes = f.PeakRssBytes, DeviceAllocatedBytes = f.DeviceAllocatedBytes,
        DeviceReservedBytes = f.DeviceReservedBytes, DevicePeakBytes = f.DevicePeakBytes,
    };

    private static E.MemoryFigures Memory(P.MemoryFigures f) =>
        new(f.RssBytes, f.PeakRssBytes, f.DeviceAllocatedBytes, f.DeviceReservedBytes, f.DevicePeakBytes);

    private static P.PreferenceFigures? Preference(E.PreferenceFigures? f) => f is null ? null : new()
    {
        RewardMargin = f.RewardMargin, Accuracy = f.Accuracy, ChosenReward = f.ChosenReward, RejectedReward = f.RejectedReward, Pairs = f.Pairs,
    };

    private static E.PreferenceFigures? Preference(P.PreferenceFigures? f) =>
        f is null ? null : new(f.RewardMargin, f.Accuracy, f.ChosenReward, f.RejectedReward, f.Pairs);
}
