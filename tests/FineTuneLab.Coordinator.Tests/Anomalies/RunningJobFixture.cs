using System.Text.Json.Nodes;
using System.Threading.Channels;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Shared.Protos.Agent.V1;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace FineTuneLab.Coordinator.Tests.Anomalies;

/// <summary>
/// A coordinator's runtime on a real store with one connected agent (one 80 GiB GPU) running one job: what the agent
/// would send goes through the real ingest, and what the coordinator sends the agent is read from its session queue.
/// </summary>
internal sealed class RunningJobFixture : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ftl-runjob-").FullName;
    private readonly Channel<CoordinatorMessage> _session;
    private ulong _seq;

    public RunningJobFixture(string? anomalyPolicy = null, JsonObject? resources = null, double? budgetUsd = null, double pricePerHour = 36)
    {
        Options = new CoordinatorOptions(_dir, new Uri("http://127.0.0.1:1"), new Uri("http://127.0.0.1:2"), AnomalyPolicy: anomalyPolicy);
        Store = CoordinatorStore.Open(Path.Combine(_dir, "c.db"));
        Runtime = new CoordinatorRuntime(Store, Options, NullLogger.Instance);
        Runtime.Ingest.Start(); // what the host's TelemetryIngestService does once the store is open
        AgentId = Runtime.Agents.Register(null, "gpu-node", new NodeInventory
        {
            Hostname = "gpu-node", Cpu = new CpuInfo(), PricePerHourUsd = pricePerHour,
            Gpus = { new GpuInfo { Index = 0, Name = "NVIDIA H100", MemoryTotalBytes = 80UL << 30 } },
        }).Id;
        _session = Runtime.Sessions.Open(AgentId);
        JobId = Runtime.Jobs.Create(new JobSubmission("job", "", 0, "{}", (resources ?? new JsonObject { ["device"] = "cuda" }).ToJsonString(),
            budgetUsd, null, 0, null));
        Assert.True(Runtime.Jobs.Assign(JobId, AgentId, 0, pricePerHour));
        Send(new AgentMessage { JobState = new JobStateChange { Seq = ++_seq, JobId = JobId, State = JobState.Running, Reason = "started" } });
        Assert.Equal(JobStates.Running, Job.State);
    }

    public CoordinatorOptions Options { get; }
    public CoordinatorStore Store { get; }
    public CoordinatorRuntime Runtime { get; }
    public string AgentId { get; }
    public string JobId { get; }
    public JobRow Job => Runtime.Jobs.Get(JobId)!;

    public void Send(AgentMessage message) => Runtime.Ingest.Persist(AgentId, [message]);

    /// <summary>Relays a trainer event as the agent does (its typed message), through the gateway's edge parse.</summary>
    public void TrainerEvent(FineTuneLab.Events.TrainerEvent e, DateTime? at = null)
    {
        var message = FineTuneLab.Shared.Protos.TrainerEventMessages.ToMessage(e);
        (message.Seq, message.JobId, message.At) = (++_seq, JobId, Timestamp.FromDateTime(at ?? DateTime.UtcNow));
        Send(new AgentMessage { Telemetry = new TelemetryBatch { Events = { message } } });
    }

    public void GpuPoints(string metric, IEnumerable<double> values)
    {
        var batch = new TelemetryBatch();
        var now = DateTime.UtcNow;
        var i = 0;
        foreach (var v in values)
            batch.Points.Add(new TelemetryPoint { Seq = ++_seq, JobId = JobId, GpuIndex = 0, Metric = metric, Value = v, At = Timestamp.FromDateTime(now.AddSeconds(-i++ * 0.5)) });
        Send(new AgentMessage { Telemetry = batch });
    }

    /// <summary>The commands the coordinator queued for the agent so far.</summary>
    public List<JobCommand> Commands()
    {
        var commands = new List<JobCommand>();
        while (_session.Reader.TryRead(out var m))
            if (m.BodyCase == CoordinatorMessage.BodyOneofCase.Command) commands.Add(m.Command);
        return commands;
    }

    /// <summary>The job's log entries of one type, typed.</summary>
    public List<T> Events<T>(string type) => JobEvents.Read(Store, JobId, 0, type).Select(e => e.Body).OfType<T>().ToList();

    public void Dispose()
    {
        Store.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }
}
