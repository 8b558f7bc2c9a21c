using System.Text.Json.Nodes;

namespace FineTuneLab.Trainer.Tests.ChatTemplates;

/// <summary>Test conversations: multi-turn with and without a system prompt, awkward whitespace and Unicode, reasoning.</summary>
internal static class Conversations
{
    public static JsonObject Msg(string role, string content) => new() { ["role"] = role, ["content"] = content };

    public static JsonArray Chat(params JsonObject[] messages) => new(messages.Select(m => (JsonNode)m).ToArray());

    public static IEnumerable<(string Name, JsonArray Messages)> Plain()
    {
        yield return ("single user", Chat(Msg("user", "Hello!")));
        yield return ("user assistant", Chat(Msg("user", "What is 2+2?"), Msg("assistant", "4")));
        yield return ("system multi-turn", Chat(
            Msg("system", "You are a terse assistant."),
            Msg("user", "Name a prime."),
            Msg("assistant", "7"),
            Msg("user", "Another one, please."),
            Msg("assistant", "11"),
            Msg("user", "And the sum?")));
        yield return ("three full turns", Chat(
            Msg("user", "  leading and trailing spaces  "),
            Msg("assistant", "\nNewlines\n\naround\n"),
            Msg("user", "Unicode: héllo wörld — 日本語 🙂 \"quotes\" and 'apostrophes' \\ backslash"),
            Msg("assistant", "Tabs\tand {{ braces }} {% not a tag %}"),
            Msg("user", "Last question?"),
            Msg("assistant", "Last answer.")));
        yield return ("system then pair", Chat(
            Msg("system", "Line one.\nLine two."),
            Msg("user", "Hi"),
            Msg("assistant", "Hello there.")));
        yield return ("reasoning", Chat(
            Msg("user", "Think first: 3*3?"),
            Msg("assistant", "<think>\nthree threes\n</think>\n\n9"),
            Msg("user", "And 4*4?"),
            Msg("assistant", "<think>easy</think>16")));
    }
}
