using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.Events;
using FineTuneLab.Shared.Protos;
using P = FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Coordinator.AgentGateway;

/// <summary>
/// The gateway's edge for trainer events: the typed message becomes the shared <see cref="TrainerEvent"/> record, and,
/// until the store keeps events typed, the row the events table holds (its type name and the contract's JSON, which
/// <see cref="EventJson"/> writes). A step's <c>cost</c> (the agent's <see cref="P.StepCost"/>) rides along in the
/// JSON as <c>cost</c>, as the feeds and the dashboard read it.
/// </summary>
public static class StoredEvent
{
    /// <param name="message">The message as it arrived (for the step's cost, which the record does not carry).</param>
    /// <param name="record">The message as its record, made once at the edge (<see cref="TrainerEventMessages.ToRecord"/>).</param>
    public static (string Type, string Json) From(P.TrainerEvent message, TrainerEvent record)
    {
        var type = EventJson.TypeName(record);
        if (message.Step?.Cost is not { } cost) return (type, EventJson.Serialize(record));
        var json = JsonSerializer.SerializeToNode(record, EventJson.Options)!.AsObject();
        json["cost"] = new JsonObject
        {
            ["spent_usd"] = cost.SpentUsd, ["hours_used"] = cost.HoursUsed, ["rate_usd_per_hour"] = cost.RateUsdPerHour,
            ["projected_usd"] = cost.HasProjectedUsd ? cost.ProjectedUsd : null,
            ["budget_fraction"] = cost.HasBudgetFraction ? cost.BudgetFraction : null,
        };
        return (type, json.ToJsonString());
    }
}
