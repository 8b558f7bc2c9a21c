using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.Trainer.Tokenizers.Jinja;

namespace FineTuneLab.Trainer.Tests.ChatTemplates;

/// <summary>
/// Small templates that each exercise one corner of the language (whitespace control, scoping, filters, tests,
/// undefined, Python string methods and value printing), rendered by us and by jinja2 in transformers' setup.
/// </summary>
public class InterpreterSemanticsTests
{
    private const string Vars = """
        {"msgs": [{"role": "system", "content": " sys "}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
         "d": {"b": 2, "a": 1, "nested": {"x": [1, 2.5, "s", null, true]}}, "s": "  Hello, World  ", "n": 7, "f": 2.5,
         "empty": [], "none_value": null, "text": "a<think>r</think>\n\nanswer", "words": ["b", "A", "c", "a"]}
        """;

    public static readonly string[] Snippets =
    [
        // whitespace control with trim_blocks / lstrip_blocks
        "a\n  {% if true %}\n    x\n  {% endif %}\nb",
        "a  {%- if true -%}  x  {%- endif -%}  b",
        "{% for m in msgs %}\n  [{{ m.role }}]\n{% endfor %}\n",
        "  {# comment #}\nx\n{#- c -#}  y",
        "{{ 'a' }}\n{{ 'b' }}\n",
        "{% if true %}a{% endif %}\n\nz\n",
        "{%+ if true %}keep{% endif %}",
        "  {{- 'x' -}}  \n y",
        // scoping
        "{% set x = 1 %}{% for i in [1,2] %}{{ x }}{% set x = i * 10 %}{{ x }};{% endfor %}{{ x }}",
        "{% set ns = namespace(total=0, seen=[]) %}{% for i in range(4) %}{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }}",
        "{% if true %}{% set y = 'set in if' %}{% endif %}{{ y }}",
        "{% set block %}  inner {{ n }}  {% endset %}[{{ block }}]",
        "{% set a, b = 1, 'two' %}{{ a }}{{ b }}",
        // loops
        "{% for m in msgs %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.length }}/{{ loop.first }}/{{ loop.last }} {% endfor %}",
        "{% for m in msgs if m.role != 'system' %}{{ loop.index }}:{{ m.content }} {% endfor %}",
        "{% for x in empty %}no{% else %}else branch{% endfor %}",
        "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
        "{% for k in d %}{{ k }},{% endfor %}",
        "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}",
        "{% for m in msgs[::-1] %}{{ m.role }} {% endfor %}{{ msgs[1:] | length }}{{ msgs[-1].role }}",
        "{% for c in 'héllo' %}{{ c }}.{% endfor %}",
        "{% for m in msgs %}{{ loop.previtem.role if not loop.first }}>{{ loop.nextitem.role if not loop.last }} {% endfor %}",
        // printing values as Python does
        "{{ none_value }} {{ true }} {{ n }} {{ f }} {{ 1/3 }} {{ 10/2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 1e-5 }} {{ 1e16 }} {{ 123456789.123 }}",
        "{{ d }} {{ words }} {{ (1, 'a') }} {{ d.nested.x }} {{ 'it\\'s' }} {{ [\"q'\", 'x\"y'] }}",
        "{{ 'a' ~ n ~ none_value ~ undefined_thing ~ f }}",
        // undefined
        "[{{ missing }}][{{ missing is defined }}][{{ missing is none }}][{{ missing | default('dflt') }}][{{ missing | length }}][{% if not missing %}falsy{% endif %}]",
        "[{{ d.nope }}][{{ d['nope'] }}][{{ d.nope is defined }}][{{ msgs[10] }}][{{ none_value.x }}]",
        "{{ none_value | default('d1') }} {{ none_value | default('d2', true) }} {{ '' | default('d3', boolean=true) }}",
        "{% for x in missing %}never{% endfor %}{{ missing | list }}{{ missing | join(',') }}",
        // tests
        "{{ s is string }}{{ n is number }}{{ n is integer }}{{ f is float }}{{ d is mapping }}{{ msgs is iterable }}{{ n is iterable }}{{ s is sequence }}{{ none_value is none }}{{ true is boolean }}",
        "{{ n is odd }}{{ n is even }}{{ 9 is divisibleby 3 }}{{ n is equalto 7 }}{{ n is eq 8 }}{{ 'a' is in 'cat' }}{{ n is gt 3 }}{{ none_value is sameas none }}{{ s is not string }}",
        // filters
        "[{{ s | trim }}][{{ s | upper }}][{{ s | lower }}][{{ s | length }}][{{ 'x,y,z' | replace(',', ';') }}][{{ 'aaa' | replace('a', 'b', 2) }}]",
        "{{ words | first }}{{ words | last }}{{ words | join('-') }}{{ words | sort | join }}{{ words | sort(reverse=true) | join }}{{ words | unique | join }}",
        "{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ 'é\"\\n' | tojson }}|{{ [1, 2.0, none_value, true] | tojson }}|{{ d | tojson(sort_keys=true) }}",
        "{{ d | items | list }}{{ d.keys() | list }}{{ d.values() | list | length }}{{ d.get('a') }}{{ d.get('zz', 'dflt') }}{{ d.get('zz') }}",
        "{{ msgs | map(attribute='role') | join(',') }}{{ msgs | selectattr('role', 'equalto', 'user') | list | length }}{{ msgs | rejectattr('role', 'eq', 'user') | map(attribute='content') | join('+') }}",
        "{{ [1, 0, 2, none_value] | select | list }}{{ [1, 2, 3, 4] | reject('odd') | list }}{{ [3, 1, 2] | max }}{{ [3, 1, 2] | min }}{{ [1, 2, 3] | sum }}",
        "{{ '3' | int + 1 }}{{ 'x' | int }}{{ 2.7 | int }}{{ '2.5' | float }}{{ -3 | abs }}{{ 2.567 | round(2) }}{{ 'ab' | reverse }}{{ 'hello world' | title }}{{ 'hELLO' | capitalize }}",
        "{{ 'line1\\nline2\\n\\nline4' | indent(2) }}|{{ 'a\\nb' | indent(4, true) }}|{{ n | string }}{{ '<&>' | e }}{{ 'one two  three' | wordcount }}",
        // string methods
        "{{ text.split('</think>')[-1].lstrip('\\n') }}|{{ text.split('</think>')[0].split('<think>')[-1] }}|{{ s.strip() }}|{{ s.strip(' H') }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}",
        "{{ s.startswith('  He') }}{{ s.endswith(('x', '  ')) }}{{ 'abc'.replace('b', 'B') }}{{ 'abc'.upper() }}{{ 'ABC'.lower() }}{{ 'abcabc'.find('c') }}{{ 'abcabc'.count('b') }}{{ '-'.join(['a', 'b']) }}{{ 'x y'.title() }}",
        "{{ s[2:7] }}|{{ s[::2] }}|{{ s[-4:] }}|{{ s[0] }}|{{ 'abc'[::-1] }}|{{ [1,2,3,4,5][1:4:2] }}|{{ [1,2,3][5:] }}",
        // expressions
        "{{ 1 + 2 * 3 - 4 / 2 }} {{ (1 + 2) * 3 }} {{ 'ab' * 3 }} {{ [1] + [2] }} {{ not true or false and true }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'b' in ['a', 'b'] }} {{ 'z' not in 'abc' }} {{ 'a' in d }}",
        "{{ 'yes' if n > 5 else 'no' }}|{{ 'only' if false }}|{{ n if n is defined else 0 }}|{{ 0 or 'fallback' }}|{{ 'first' and 'second' }}|{{ [] or none_value }}",
        "{{ msgs[0]['content'] | trim + '!' }}{{ -n }}{{ +f }}{{ n == 7.0 }}{{ true == 1 }}{{ 'a' == 'a' }}{{ [1, 2] == [1, 2] }}{{ d == {'b': 2} }}",
        "{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', '?') }} {{ greet(name='Cy', punct='.') }}",
        "{{ dict(a=1, b='x') }} {{ namespace(z=1).z }} {{ range(3) | list }} {{ range(1, 10, 3) | list }} {{ strftime_now('%d %b %Y %H:%M:%S %A %B %j %p') }}",
        "{{ \"double \\\"quoted\\\" \\u00e9 \\t tab\" }}{{ 'adjacent' 'strings' }}",
        "{% if msgs[0].role == 'system' %}{% set rest = msgs[1:] %}{% else %}{% set rest = msgs %}{% endif %}{{ rest | length }}",
        "{% for m in msgs %}{% if m.role == 'assistant' %}{% generation %}<{{ m.content }}>{% set leaked = 1 %}{% endgeneration %}{% endif %}{% endfor %}{{ leaked is defined }}",
        "{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{{ loop.cycle('x', 'y') }}{% endfor %}{% for k, v in {'p': 1, 'q': none} | items %}{{ k }}{{ v }}{% endfor %}",
        "{{ 'abc' < 'abd' }}{{ [1, 2] < [1, 3] }}{{ 2 >= 2.0 }}{{ 'A' ~ 1.5 ~ true }}{{ {'k': 'v', 'n': [1, {'z': none}]} }}{{ 'x' if none_value is none }}",
        "{{ '' is string }}{{ 0 is false }}{{ false is false }}{{ [] is sequence }}{{ d.nested is mapping }}{{ n is number and f is number }}{{ 'abc' is lower }}{{ 'ABC' is upper }}",
        "{{ words[0] }}{{ words[-1] }}{{ words[1:3] }}{{ 'x'.join(words) }}{{ words | length > 3 }}{{ (words | first).upper() }}{{ msgs | map(attribute='role') | list }}",
        "{%- set parts = [] -%}{%- for m in msgs -%}{%- if loop.index is divisibleby 2 -%}{{- m.role -}}{%- else -%}{{- m.content | trim -}}{%- endif -%}{%- if not loop.last %}, {% endif -%}{%- endfor -%}",
        "{{ text.startswith('a') and text.endswith('answer') }}{{ text.rstrip('r') }}{{ ('  x  ').lstrip() }}|{{ text.split('\n') }}{{ 'a-b-c'.split('-', 1) }}{{ 'AbC'.swapcase if false else 'n' }}",
        "{{ (range(5) | list)[1:3] }}{{ range(3) | reverse | list }}{{ [3, 1, 2] | sort | first }}{{ ['b', 'a'] | sort | join }}{{ [1, 2, 3] | map('string') | join('+') }}",
        // errors that must happen on both sides
        "{{ raise_exception('custom failure') }}",
        "{{ missing.attr }}",
        "{{ 'a' + 1 }}",
        "{{ msgs.append(1) }}",
        "{{ missing + 1 }}",
    ];

    [Fact]
    public async Task Every_snippet_renders_like_jinja2()
    {
        var cases = new JsonArray();
        foreach (var snippet in Snippets)
            cases.Add(new JsonObject { ["template"] = snippet, ["kwargs"] = JsonNode.Parse(Vars), ["messages"] = new JsonArray(), ["add_generation_prompt"] = false });
        var expected = await JinjaReference.RenderAsync(null, cases);
        using var vars = JsonDocument.Parse(Vars);
        var variables = vars.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone());
        variables["messages"] = new List<object?>();
        variables["add_generation_prompt"] = false;
        variables["tools"] = null;
        variables["documents"] = null;
        var failures = new List<string>();
        for (var i = 0; i < Snippets.Length; i++)
        {
            string? actual = null, error = null;
            try
            {
                actual = JinjaTemplate.Parse(Snippets[i]).Render(variables, () => JinjaReference.Now);
            }
            catch (JinjaException e)
            {
                error = e.Message;
            }
            if (expected[i].Error is { } refError)
            {
                if (error is null) failures.Add($"#{i} {Snippets[i]}\n  jinja2 raised {refError}\n  we rendered {actual}");
            }
            else if (error is not null)
                failures.Add($"#{i} {Snippets[i]}\n  jinja2 rendered {JsonSerializer.Serialize(expected[i].Text)}\n  we failed: {error}");
            else if (expected[i].Text != actual)
                failures.Add($"#{i} {Snippets[i]}\n  jinja2: {JsonSerializer.Serialize(expected[i].Text)}\n  ours:   {JsonSerializer.Serialize(actual)}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Theory]
    [InlineData("line one\n{% include 'other.j2' %}", 2, 4, "unsupported tag 'include'")]
    [InlineData("{{ x | no_such_filter }}", 1, 8, "no filter named 'no_such_filter'")]
    [InlineData("{% for x in y %}\n  {{ x }}\n", 2, 10, "expected 'endfor' or 'else'")]
    [InlineData("{{ x is frobnicated }}", 1, 9, "no test named 'frobnicated'")]
    [InlineData("{% if a %}{% endfor %}", 1, 14, "unexpected 'endfor', expected 'elif' or 'else' or 'endif'")]
    [InlineData("ok\n{{ 'unterminated }}", 2, 4, "unterminated string literal")]
    public void Unsupported_or_malformed_templates_fail_with_line_and_column(string source, int line, int column, string message)
    {
        var e = Assert.ThrowsAny<JinjaSyntaxException>(() => JinjaTemplate.Parse(source));
        Assert.Contains(message, e.Message);
        Assert.Equal((line, column), (e.Line, e.Column));
    }

    [Fact]
    public void Runtime_errors_name_the_line_of_the_failing_expression()
    {
        var e = Assert.Throws<JinjaRenderException>(() =>
            JinjaTemplate.Parse("first\nsecond {{ 'a' + 1 }}").Render(new Dictionary<string, object?>()));
        Assert.Equal(2, e.Line);
        Assert.Contains("can only concatenate str", e.Message);
        var raised = Assert.Throws<JinjaRaisedException>(() =>
            JinjaTemplate.Parse("{{ raise_exception('bad roles') }}").Render(new Dictionary<string, object?>()));
        Assert.Equal("bad roles", raised.TemplateMessage);
    }
}
