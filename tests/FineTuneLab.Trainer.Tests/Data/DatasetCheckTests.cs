using System.Text;
using FineTuneLab.Trainer.Data;

namespace FineTuneLab.Trainer.Tests.Data;

/// <summary>A dataset with one planted defect of each kind: the check finds each on its line and counts the rest right.</summary>
public class DatasetCheckTests
{
    private const string Good = """{"messages": [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "Paris."}]}""";
    private const string Long1 = """{"messages": [{"role": "user", "content": "write a poem about the cat and the dog and the bird and the fish in the rain today"}, {"role": "assistant", "content": "the cat is red and the dog is blue and the bird is green and the fish is fine in the cold rain"}]}""";
    private const string Long1Near = """{"messages": [{"role": "user", "content": "Write a poem about the cat and the dog and the bird and the fish in the rain, today!"}, {"role": "assistant", "content": "the cat is red and the dog is blue and the bird is green and the fish is fine in the warm rain"}]}""";

    private static readonly (string Line, ProblemKind? Kind, ProblemSeverity Severity)[] Planted =
    [
        (Good, null, default),                                                                                             // 1
        ("""{"messages": [{"role": "user", "content": "hi"}""", ProblemKind.InvalidJson, ProblemSeverity.Error),            // 2
        ("[1, 2]", ProblemKind.NotAnObject, ProblemSeverity.Error),                                                        // 3
        ("""{"messages": [{"role": "user"}, {"role": "assistant", "content": "x"}]}""", ProblemKind.MissingField, ProblemSeverity.Error), // 4
        ("""{"messages": [{"role": "user", "content": "   "}, {"role": "assistant", "content": "x"}]}""", ProblemKind.EmptyField, ProblemSeverity.Error), // 5
        ("""{"messages": [{"role": "bot", "content": "hi"}, {"role": "assistant", "content": "x"}]}""", ProblemKind.UnknownRole, ProblemSeverity.Error), // 6
        ("""{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]}""", ProblemKind.NoAssistantTurn, ProblemSeverity.Error), // 7
        ("""{"messages": [{"role": "assistant", "content": "hi"}, {"role": "user", "content": "x"}]}""", ProblemKind.WrongOrder, ProblemSeverity.Error), // 8
        ("INVALID_UTF8", ProblemKind.InvalidUtf8, ProblemSeverity.Error),                                                  // 9
        (Long1, ProblemKind.TooLong, ProblemSeverity.Warning),                                                             // 10
        (Good.Replace("Paris.", "Paris. "), null, default),                                                                // 11: exact duplicate of 1
        (Long1Near, ProblemKind.TooLong, ProblemSeverity.Warning),                                                         // 12: near duplicate of 10
        ("", null, default),                                                                                               // 13: blank
        ("""{"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "x"}]}""", ProblemKind.WrongType, ProblemSeverity.Error), // 14
        ("""{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}""", ProblemKind.EndsWithUserTurn, ProblemSeverity.Warning), // 15
        ("""{"prompt": "p", "completion": "c"}""", ProblemKind.MixedFormats, ProblemSeverity.Error),                        // 16
        ("""{"foo": 1}""", ProblemKind.MissingField, ProblemSeverity.Error),                                                // 17
        ("""{"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "s"}, {"role": "assistant", "content": "b"}]}""", ProblemKind.WrongOrder, ProblemSeverity.Error), // 18
        ("""{"messages": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi, what is your name?"}, {"role": "user", "content": "Sam"}, {"role": "assistant", "content": "Hello Sam"}]}""", null, default), // 19
    ];

    private static IEnumerable<byte[]> PlantedBytes() => Planted.Select(p => p.Line == "INVALID_UTF8"
        ? [.. Encoding.UTF8.GetBytes("""{"messages": [{"role": "user", "content": "bad """), 0xC3, 0x28, .. Encoding.UTF8.GetBytes("\" }, {\"role\": \"assistant\", \"content\": \"x\"}]}")]
        : Encoding.UTF8.GetBytes(p.Line));

    private static async Task<DatasetCheckReport> Check(string path, DatasetCheckOptions? options = null) =>
        await DatasetCheck.RunAsync(path, WordLevelTestTokenizer.Default(), DataTestSupport.ChatMl(),
            options ?? new DatasetCheckOptions { Encoding = new EncodingOptions { MaxSeqLen = 60 }, TokensPerSecond = 100, PricePerHour = 3.6 });

    [Fact]
    public async Task Every_planted_defect_is_found_on_its_line()
    {
        using var file = DataTestSupport.WriteLines(PlantedBytes());
        var report = await Check(file.Path);

        for (var i = 0; i < Planted.Length; i++)
        {
            var line = i + 1;
            var (_, kind, severity) = Planted[i];
            var onLine = report.Problems.Where(p => p.Line == line).ToList();
            if (kind is null)
                Assert.True(onLine.Count == 0, $"line {line} should be clean but has: {string.Join("; ", onLine)}");
            else
                Assert.True(onLine.Any(p => p.Kind == kind && p.Severity == severity),
                    $"line {line}: expected {severity} {kind}, found: {string.Join("; ", onLine)}");
        }
        Assert.Equal(DatasetFormat.Chat, report.Format);
        Assert.Equal(Planted.Length, report.Lines);
        Assert.Equal(1, report.BlankLines);
        var expectedErrors = Planted.Count(p => p.Severity == ProblemSeverity.Error && p.Kind is not null);
        Assert.Equal(expectedErrors, report.ErrorCount);
        Assert.True(report.HasErrors);
        Assert.Equal(6, report.ValidExamples); // lines 1, 10, 11, 12, 15 and 19
        Assert.Equal([new DuplicatePair(1, 11, 1.0)], report.ExactDuplicates);
        var nearPair = Assert.Single(report.NearDuplicates);
        Assert.Equal((10, 12), (nearPair.FirstLine, nearPair.DuplicateLine));
        Assert.InRange(nearPair.Similarity, 0.8, 1.0);
        Assert.Equal(2, report.OverLongExamples);
        Assert.Contains(report.Problems, p => p.Line == 4 && p.Field == "messages[0].content");
        Assert.Contains(report.Problems, p => p.Line == 9 && p.Message.Contains("byte 47"));
    }

    [Fact]
    public async Task Statistics_add_up()
    {
        using var file = DataTestSupport.WriteLines(PlantedBytes());
        var report = await Check(file.Path);
        var tokenizer = WordLevelTestTokenizer.Default();
        var encoder = new ExampleEncoder(tokenizer, DataTestSupport.ChatMl(), new EncodingOptions { MaxSeqLen = 60 });
        var parser = new RecordParser(DatasetFormat.Chat);
        var lengths = new List<int>();
        long trainable = 0, fitted = 0;
        var lineNo = 0;
        foreach (var bytes in PlantedBytes())
        {
            lineNo++;
            if (bytes.Length == 0) continue;
            var record = parser.Parse(new JsonlLine(lineNo, 0, bytes), []);
            if (record is null) continue;
            var e = encoder.EncodeFull(record);
            lengths.Add(e.Length);
            trainable += e.TrainableTokens;
            fitted += encoder.Fit(e)?.Length ?? 0;
        }
        Assert.Equal(lengths.Count, report.ValidExamples);
        Assert.Equal(lengths.Sum(), report.TotalTokens);
        Assert.Equal(trainable, report.TrainableTokens);
        Assert.Equal(lengths.Max(), report.Lengths!.Max);
        Assert.Equal(lengths.Min(), report.Lengths.Min);
        Assert.Equal(fitted, report.Projection!.TokensPerEpoch);
        Assert.Equal(fitted / 100.0, report.Projection.Seconds, 6);
        Assert.Equal(fitted / 100.0 / 3600 * 3.6, report.Projection.Cost!.Value, 6);
        Assert.Equal(7, report.RoleCounts["assistant"]); // six chats; line 19 has two assistant turns
        Assert.Equal(2, report.RoleCounts["system"]);
    }

    [Fact]
    public async Task Preference_defects_are_found()
    {
        using var file = DataTestSupport.WriteLines(
            """{"prompt": "Say hi", "chosen": "hello", "rejected": "go away"}""",
            """{"prompt": "Say hi", "chosen": "hello", "rejected": " hello "}""",
            """{"prompt": "Say hi", "chosen": "", "rejected": "no"}""",
            """{"prompt": "Say hi", "chosen": "hello"}""",
            """{"prompt": "", "chosen": "a", "rejected": "b"}""");
        var report = await Check(file.Path);
        Assert.Equal(DatasetFormat.Preference, report.Format);
        Assert.Contains(report.Problems, p => p.Line == 2 && p.Kind == ProblemKind.IdenticalChosenRejected);
        Assert.Contains(report.Problems, p => p.Line == 3 && p.Kind == ProblemKind.EmptyPreferenceSide && p.Field == "chosen");
        Assert.Contains(report.Problems, p => p.Line == 4 && p.Kind == ProblemKind.MissingField && p.Field == "rejected");
        Assert.Contains(report.Problems, p => p.Line == 5 && p.Kind == ProblemKind.EmptyField && p.Field == "prompt");
        Assert.Equal(1, report.ValidExamples);
        Assert.Equal(4, report.ErrorCount);
    }

    [Fact]
    public async Task A_clean_file_has_no_errors_and_a_column_mapping_reads_other_shapes()
    {
        using var file = DataTestSupport.WriteLines(
            """{"customer_input": "what is the weather today", "ideal_response": "sunny and warm"}""",
            """{"customer_input": "translate hello to french", "ideal_response": "bonjour"}""");
        var report = await Check(file.Path, new DatasetCheckOptions { Mapping = ColumnMapping.Parse("customer_input=user, ideal_response=assistant") });
        Assert.False(report.HasErrors, string.Join("\n", report.Problems));
        Assert.Equal(2, report.ValidExamples);
        Assert.Equal(2, report.RoleCounts["user"]);
        Assert.Equal(2, report.RoleCounts["assistant"]);
        Assert.Null(report.Projection);
    }
}

/// <summary>An example the template refuses is an error on its line, with the template's own message.</summary>
public class TemplateFailureCheckTests
{
    [Fact]
    public async Task The_templates_raise_exception_message_is_reported_on_the_line()
    {
        var template = new FineTuneLab.Trainer.Tokenizers.Jinja.ChatTemplate(
            "{% for m in messages %}{% if 'forbidden' in m.content %}{{ raise_exception('no forbidden words') }}{% endif %}" +
            "<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
            new Dictionary<string, string> { ["eos_token"] = "<|im_end|>" }, "test template");
        using var file = DataTestSupport.WriteLines(
            """{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}""",
            """{"messages": [{"role": "user", "content": "a forbidden word"}, {"role": "assistant", "content": "no"}]}""");
        var report = await DatasetCheck.RunAsync(file.Path, WordLevelTestTokenizer.Default(), template, new DatasetCheckOptions());
        var problem = Assert.Single(report.Problems);
        Assert.Equal((2L, ProblemKind.TemplateFailed), (problem.Line, problem.Kind));
        Assert.Contains("no forbidden words", problem.Message);
        Assert.Equal(1, report.ValidExamples);
    }
}
