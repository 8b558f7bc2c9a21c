namespace FineTuneLab.Shared.Jobs;

/// <summary>The reasons a coordinator's stop command carries, as agent and coordinator both read them.</summary>
public static class StopReasons
{
    /// <summary>The budget would be crossed: checkpoint and stop (the job ends stopped, stop_reason budget).</summary>
    public const string Budget = "budget";

    /// <summary>A stop whose reason starts with this ends the job failed after its checkpoint (an anomaly policy's "fail"); the rest names the anomaly.</summary>
    public const string FailPrefix = "fail:";

    /// <summary>A stop or pause an anomaly policy ordered; the rest names the anomaly kind.</summary>
    public const string AnomalyPrefix = "anomaly:";
}
