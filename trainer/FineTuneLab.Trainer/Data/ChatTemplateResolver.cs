using FineTuneLab.Trainer.Tokenizers;
using FineTuneLab.Trainer.Tokenizers.Jinja;

namespace FineTuneLab.Trainer.Data;

/// <summary>The chat template training uses for a tokenizer folder: the model's own, else a built-in one that fits its tokens.</summary>
public static class ChatTemplateResolver
{
    public static ChatTemplate Resolve(string tokenizerDir, ITokenizer tokenizer, string? templateName = null)
    {
        var own = ChatTemplate.TryLoad(tokenizerDir, templateName);
        if (own is not null) return own;
        var config = Path.Combine(tokenizerDir, "tokenizer_config.json");
        var specialTokens = File.Exists(config) ? ChatTemplate.ReadSpecialTokens(config) : new Dictionary<string, string>();
        return ChatTemplate.Builtin(BuiltinChatTemplates.ChooseFor(tokenizer), specialTokens);
    }
}
