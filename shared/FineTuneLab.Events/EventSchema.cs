namespace FineTuneLab.Events;

/// <summary>The version of the event contract the trainer writes (each line's <c>v</c>), docs/trainer-events.md.</summary>
public static class EventSchema
{
    public const int Version = 1;
}
