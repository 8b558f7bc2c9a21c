namespace FineTuneLab.Trainer.Tokenizers.Jinja;

/// <summary>The chat formats used for a model whose tokenizer_config.json has no chat_template.</summary>
public enum BuiltinChatFormat
{
    /// <summary><c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c> (Qwen, many fine-tunes).</summary>
    ChatMl,
    /// <summary>Llama 3 instruct headers: <c>&lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\ncontent&lt;|eot_id|&gt;</c>.</summary>
    Llama3,
    /// <summary>Llama 2 / Mistral: <c>&lt;s&gt;[INST] &lt;&lt;SYS&gt;&gt;…[/INST] answer &lt;/s&gt;</c>.</summary>
    Llama2,
}

/// <summary>
/// Fallback templates written as Jinja text, so they run through the same interpreter as a model's own template
/// (and the tests render the same text with Python's jinja2 to check them).
/// </summary>
public static class BuiltinChatTemplates
{
    public const string ChatMl =
        "{%- for message in messages %}\n" +
        "    {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}\n" +
        "{%- endfor %}\n" +
        "{%- if add_generation_prompt %}\n" +
        "    {{- '<|im_start|>assistant\\n' }}\n" +
        "{%- endif %}\n";

    public const string Llama3 =
        "{{- bos_token }}\n" +
        "{%- for message in messages %}\n" +
        "    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}\n" +
        "{%- endfor %}\n" +
        "{%- if add_generation_prompt %}\n" +
        "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n" +
        "{%- endif %}\n";

    public const string Llama2 =
        "{%- if messages[0]['role'] == 'system' %}\n" +
        "    {%- set loop_messages = messages[1:] %}\n" +
        "    {%- set system_message = messages[0]['content'] %}\n" +
        "{%- else %}\n" +
        "    {%- set loop_messages = messages %}\n" +
        "    {%- set system_message = false %}\n" +
        "{%- endif %}\n" +
        "{%- for message in loop_messages %}\n" +
        "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n" +
        "        {{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}\n" +
        "    {%- endif %}\n" +
        "    {%- if loop.index0 == 0 and system_message != false %}\n" +
        "        {%- set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}\n" +
        "    {%- else %}\n" +
        "        {%- set content = message['content'] %}\n" +
        "    {%- endif %}\n" +
        "    {%- if message['role'] == 'user' %}\n" +
        "        {{- bos_token + '[INST] ' + content.strip() + ' [/INST]' }}\n" +
        "    {%- elif message['role'] == 'assistant' %}\n" +
        "        {{- ' ' + content.strip() + ' ' + eos_token }}\n" +
        "    {%- endif %}\n" +
        "{%- endfor %}\n";

    public static string Source(BuiltinChatFormat format) => format switch
    {
        BuiltinChatFormat.ChatMl => ChatMl,
        BuiltinChatFormat.Llama3 => Llama3,
        BuiltinChatFormat.Llama2 => Llama2,
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };

    /// <summary>Picks the format whose control tokens the tokenizer actually has (Llama 2 style needs none).</summary>
    public static BuiltinChatFormat ChooseFor(ITokenizer tokenizer)
    {
        if (tokenizer.TokenToId("<|start_header_id|>") is not null && tokenizer.TokenToId("<|eot_id|>") is not null)
            return BuiltinChatFormat.Llama3;
        if (tokenizer.TokenToId("<|im_start|>") is not null && tokenizer.TokenToId("<|im_end|>") is not null)
            return BuiltinChatFormat.ChatMl;
        return BuiltinChatFormat.Llama2;
    }
}
