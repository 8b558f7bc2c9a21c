using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.Trainer.Tokenizers.Jinja;

namespace FineTuneLab.Trainer.Tests.ChatTemplates;

/// <summary>
/// Templates in the style of other model families (Llama 3.1 with tools and dates, Mistral with namespaces and
/// macros, a template with generation blocks) rendered by us and by jinja2 from the same text.
/// </summary>
public class ComplexTemplateTests
{
    private const string Llama31Style = """
        {{- bos_token }}
        {%- if custom_tools is defined %}
            {%- set tools = custom_tools %}
        {%- endif %}
        {%- if not tools_in_user_message is defined %}
            {%- set tools_in_user_message = true %}
        {%- endif %}
        {%- if not date_string is defined %}
            {%- set date_string = strftime_now("%d %b %Y") %}
        {%- endif %}
        {%- if not tools is defined %}
            {%- set tools = none %}
        {%- endif %}

        {#- This block extracts the system message, so we can slot it into the right place. #}
        {%- if messages[0]['role'] == 'system' %}
            {%- set system_message = messages[0]['content']|trim %}
            {%- set messages = messages[1:] %}
        {%- else %}
            {%- set system_message = "" %}
        {%- endif %}

        {{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
        {%- if builtin_tools is defined or tools is not none %}
            {{- "Environment: ipython\n" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\n\n"}}
        {%- endif %}
        {{- "Cutting Knowledge Date: December 2023\n" }}
        {{- "Today Date: " + date_string + "\n\n" }}
        {%- if tools is not none and not tools_in_user_message %}
            {{- "You have access to the following functions.\n\n" }}
            {%- for t in tools %}
                {{- t | tojson(indent=4) }}
                {{- "\n\n" }}
            {%- endfor %}
        {%- endif %}
        {{- system_message }}
        {{- "<|eot_id|>" }}

        {%- if tools_in_user_message and not tools is none %}
            {%- if messages | length != 0 %}
                {%- set first_user_message = messages[0]['content']|trim %}
                {%- set messages = messages[1:] %}
            {%- else %}
                {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
            {%- endif %}
            {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
            {{- "Given the following functions, please respond with a JSON for a function call " }}
            {%- for t in tools %}
                {{- t | tojson(indent=4) }}
                {{- "\n\n" }}
            {%- endfor %}
            {{- first_user_message + "<|eot_id|>"}}
        {%- endif %}

        {%- for message in messages %}
            {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
                {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
            {%- elif 'tool_calls' in message %}
                {%- if not message.tool_calls|length == 1 %}
                    {{- raise_exception("This model only supports single tool-calls at once!") }}
                {%- endif %}
                {%- set tool_call = message.tool_calls[0].function %}
                {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
                {{- '{"name": "' + tool_call.name + '", ' }}
                {{- '"parameters": ' }}
                {{- tool_call.arguments | tojson }}
                {{- "}" }}
                {{- "<|eot_id|>" }}
            {%- elif message.role == "tool" or message.role == "ipython" %}
                {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
                {%- if message.content is mapping or message.content is iterable %}
                    {{- message.content | tojson }}
                {%- else %}
                    {{- message.content }}
                {%- endif %}
                {{- "<|eot_id|>" }}
            {%- endif %}
        {%- endfor %}
        {%- if add_generation_prompt %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
        {%- endif %}
        """;

    private const string MistralStyle = """
        {%- macro render_turn(role, body, last=false) -%}
            [{{ role | upper }}]{{ body }}{% if last %} <LAST>{% endif %}
        {%- endmacro -%}
        {%- set ns = namespace(user_count=0, system=none) -%}
        {%- for message in messages -%}
            {%- if message.role == 'system' -%}
                {%- set ns.system = message.content -%}
            {%- elif message.role == 'user' -%}
                {%- set ns.user_count = ns.user_count + 1 -%}
            {%- endif -%}
        {%- endfor -%}
        {{ bos_token }}
        {%- for message in messages | rejectattr('role', 'equalto', 'system') -%}
            {%- if message.role == 'user' -%}
                {%- if loop.last and ns.system is not none -%}
                    {{ render_turn('inst', ns.system ~ '\n\n' ~ message.content) }}
                {%- else -%}
                    {{ render_turn('inst', message.content) }}
                {%- endif -%}
            {%- elif message.role == 'assistant' -%}
                {% generation %}{{ render_turn('out', message.content, last=loop.last) }}{{ eos_token }}{% endgeneration %}
            {%- else -%}
                {{ raise_exception('Only user and assistant roles are supported, got ' ~ message.role) }}
            {%- endif -%}
        {%- endfor -%}
        {{ '\n' ~ ns.user_count ~ ' user turns' }}
        """;

    public static TheoryData<string> Templates => new() { "llama31", "mistral" };

    [Theory]
    [MemberData(nameof(Templates))]
    public async Task Renders_like_jinja2(string which)
    {
        var source = which == "llama31" ? Llama31Style : MistralStyle;
        var tools = JsonNode.Parse("""[{"type": "function", "function": {"name": "lookup", "description": "Look up — «x»", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]""")!;
        var cases = new JsonArray();
        foreach (var (_, messages) in Conversations.Plain())
        {
            cases.Add(new JsonObject { ["template"] = source, ["messages"] = messages.DeepClone(), ["add_generation_prompt"] = true });
            cases.Add(new JsonObject { ["template"] = source, ["messages"] = messages.DeepClone(), ["add_generation_prompt"] = false, ["tools"] = tools.DeepClone(),
                ["kwargs"] = new JsonObject { ["builtin_tools"] = new JsonArray("code_interpreter", "brave_search"), ["tools_in_user_message"] = false } });
        }
        cases.Add(new JsonObject
        {
            ["template"] = source,
            ["messages"] = JsonNode.Parse("""
                [{"role": "user", "content": "Find x"},
                 {"role": "assistant", "tool_calls": [{"function": {"name": "lookup", "arguments": {"q": "x"}}}], "content": ""},
                 {"role": "tool", "content": {"result": [1, 2]}},
                 {"role": "assistant", "content": "Done."}]
                """),
            ["tools"] = tools.DeepClone(),
            ["add_generation_prompt"] = false,
        });
        // No config file here: the special tokens travel as variables on both sides.
        foreach (var c in cases)
        {
            var kw = c!["kwargs"] as JsonObject ?? new JsonObject();
            kw["bos_token"] = "<s>";
            kw["eos_token"] = "</s>";
            c["kwargs"] = kw;
        }
        var expected = await JinjaReference.RenderAsync(null, cases);
        var template = new ChatTemplate(source, new Dictionary<string, string> { ["bos_token"] = "<s>", ["eos_token"] = "</s>" }, which) { Clock = () => JinjaReference.Now };
        var compared = 0;
        for (var i = 0; i < cases.Count; i++)
        {
            using var doc = JsonDocument.Parse(cases[i]!.ToJsonString());
            var root = doc.RootElement;
            var messages = root.GetProperty("messages").EnumerateArray().Select(e => (object?)e.Clone()).ToList();
            object? toolsValue = root.TryGetProperty("tools", out var t) ? t.Clone() : null;
            var kwargs = root.TryGetProperty("kwargs", out var k) ? k.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone()) : null;
            string? actual = null, error = null;
            try
            {
                actual = template.RenderValues(messages, root.GetProperty("add_generation_prompt").GetBoolean(), toolsValue, null, kwargs);
            }
            catch (JinjaRaisedException e)
            {
                error = "TemplateError: " + e.TemplateMessage;
            }
            Assert.Equal(expected[i].Error, error);
            Assert.Equal(expected[i].Text, actual);
            if (actual is not null) compared++;
        }
        Assert.True(compared >= 8);
    }
}
