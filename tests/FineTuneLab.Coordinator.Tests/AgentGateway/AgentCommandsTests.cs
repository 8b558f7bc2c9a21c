using FineTuneLab.Coordinator.AgentGateway;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Shared.Protos.Agent.V1;
using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.Tests.AgentGateway;

public sealed class AgentCommandsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ftl-commands-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_command_is_kept_and_re_sent_in_order_at_each_session_start_until_the_agent_acks_it()
    {
        using var store = CoordinatorStore.Open(Path.Combine(_dir, "c.db"));
        var agent = new AgentStore(store).Register(null, "a", new NodeInventory { Hostname = "h", Cpu = new CpuInfo() }).Id;
        using var ingest = new TelemetryIngest(store);
        ingest.Start();
        var job = new JobStore(store, ingest).Create(new JobSubmission("j", "", 0, "{}", "{}", null, null, 0, null));
        var sessions = new AgentSessions();
        var commands = new AgentCommands(store, sessions);

        // Cut off: stored, not sent.
        Assert.False(commands.Issue(agent, job, CommandKind.Pause, "user"));
        Assert.False(commands.Issue(agent, job, CommandKind.Stop, "user"));
        Assert.Equal(["pause", "stop"], commands.Pending(job));

        var first = sessions.Open(agent);
        Assert.Equal(2, commands.SendPending(agent));
        var sent = Drain(first);
        Assert.Equal([CommandKind.Pause, CommandKind.Stop], sent.Select(c => c.Kind));
        Assert.True(sent[0].CommandId < sent[1].CommandId);
        Assert.All(sent, c => Assert.Equal(job, c.JobId));

        // The pause is acked (through the agent's outbox, as seq 1); the stop's ack was lost with the connection.
        var session = new TelemetryIngest.Session(agent);
        Assert.Equal(1UL, await ingest.PersistAsync(session, new AgentMessage { CommandAck = new CommandAck { Seq = 1, JobId = job, CommandId = sent[0].CommandId } }));
        sessions.Close(agent, first);

        var second = sessions.Open(agent);
        Assert.Equal(1, commands.SendPending(agent));
        Assert.Equal([sent[1]], Drain(second));
        // A replayed ack changes nothing; the stop's ack empties the list.
        await ingest.PersistAsync(session, new AgentMessage { CommandAck = new CommandAck { Seq = 1, JobId = job, CommandId = sent[0].CommandId } });
        Assert.Equal(2UL, await ingest.PersistAsync(session, new AgentMessage { CommandAck = new CommandAck { Seq = 2, JobId = job, CommandId = sent[1].CommandId } }));
        Assert.Empty(commands.Pending(job));
        Assert.Equal(0, commands.SendPending(agent));

        // Connected: sent at once.
        Assert.True(commands.Issue(agent, job, CommandKind.Resume, "user"));
        Assert.Equal(CommandKind.Resume, Assert.Single(Drain(second)).Kind);
    }

    private static List<JobCommand> Drain(System.Threading.Channels.Channel<CoordinatorMessage> channel)
    {
        var list = new List<JobCommand>();
        while (channel.Reader.TryRead(out var m)) list.Add(m.Command);
        return list;
    }
}
