using FineTuneLab.Shared.Grpc.Agent;
using FineTuneLab.Shared.Grpc.Health;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace FineTuneLab.Coordinator.AgentGateway;

/// <summary>
/// What the health service reports: NOT_SERVING while starting (the store is not open yet), SERVING once it is,
/// NOT_SERVING again from the moment shutdown begins. Covers the server ("") and the agent gateway.
/// </summary>
public sealed class CoordinatorHealth
{
    public static readonly string[] Services = ["", AgentGatewayDescriptors.ServiceName];

    public CoordinatorHealth()
    {
        foreach (var s in Services)
            Registry.Set(s, ServingStatus.NotServing);
    }

    public HealthStatusRegistry Registry { get; } = new();
    public bool IsServing => Registry.Get("") == ServingStatus.Serving;
    private bool _stopping;

    public void MarkStoreOpen()
    {
        if (_stopping)
            return;
        foreach (var s in Services)
            Registry.Set(s, ServingStatus.Serving);
    }

    public void MarkStopping()
    {
        _stopping = true;
        Registry.SetAll(ServingStatus.NotServing);
    }
}
