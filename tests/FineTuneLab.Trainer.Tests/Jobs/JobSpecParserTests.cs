using System.Text;
using FineTuneLab.Trainer.Jobs;

namespace FineTuneLab.Trainer.Tests.Jobs;

public class JobSpecParserTests
{
    private static JobSpec Parse(string json) => JobSpecParser.Parse(Encoding.UTF8.GetBytes(json), "job.json");

    private static JobSpecException Fails(string json) => Assert.Throws<JobSpecException>(() => Parse(json));

    [Fact]
    public void Minimal_spec_gets_the_documented_defaults()
    {
        var spec = Parse("""{"model": {"path": "m"}, "data": {"train": "t.jsonl"}, "max_steps": 10}""");
        Assert.Equal(TrainingMethod.Lora, spec.Method);
        Assert.Equal(8, spec.Lora.R);
        Assert.Equal(16, spec.Lora.Alpha);
        Assert.Equal(7, spec.Lora.TargetModules.Count);
        Assert.Equal(SchedulerKind.Cosine, spec.Scheduler.Type);
        Assert.Equal(2e-4, spec.Optimizer.LearningRate);
        Assert.Equal(10, spec.MaxSteps);
        Assert.Null(spec.Epochs);
        Assert.Equal(42UL, spec.Seed);
    }

    [Fact]
    public void Full_spec_round_trips_every_field()
    {
        var spec = Parse("""
        {
          "schema_version": 1, "name": "run-1",
          "model": {"path": "/models/x", "weight_dtype": "bf16"},
          "method": "full",
          "lora": {"r": 16, "alpha": 32, "dropout": 0.05, "use_rslora": true, "target_modules": ["q_proj", "v_proj"]},
          "data": {"train": "a.jsonl", "validation_fraction": 0.1, "format": "prompt_completion",
                   "column_mapping": {"customer_input": "user"}, "train_on": "last_assistant_turn"},
          "max_seq_len": 256, "packing": false, "micro_batch_size": 4, "gradient_accumulation_steps": 2,
          "epochs": 1.5,
          "optimizer": {"learning_rate": 1e-3, "weight_decay": 0.01, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-6, "max_grad_norm": 0.5},
          "scheduler": {"type": "linear", "warmup_ratio": 0.1},
          "seed": 7, "eval": {"every_steps": 5, "max_batches": 2},
          "checkpoint": {"every_steps": 10, "every_minutes": 2.5, "keep_last": 2},
          "threads": 2, "device": "cpu",
        }
        """);
        Assert.Equal("run-1", spec.Name);
        Assert.Equal(WeightDType.Bf16, spec.Model.WeightDType);
        Assert.Equal(TrainingMethod.Full, spec.Method);
        Assert.Equal(["q_proj", "v_proj"], spec.Lora.TargetModules);
        Assert.True(spec.Lora.UseRsLora);
        Assert.Equal(DataFormat.PromptCompletion, spec.Data.Format);
        Assert.Equal("user", spec.Data.ColumnMapping["customer_input"]);
        Assert.Equal(TrainOn.LastAssistantTurn, spec.Data.TrainOn);
        Assert.False(spec.Packing);
        Assert.Equal(1.5, spec.Epochs);
        Assert.Equal(0.95, spec.Optimizer.Beta2);
        Assert.Equal(SchedulerKind.Linear, spec.Scheduler.Type);
        Assert.Equal(0.1, spec.Scheduler.WarmupRatio);
        Assert.Equal(2.5, spec.Checkpoint.EveryMinutes);
        Assert.Equal(DeviceKind.Cpu, spec.Device);
    }

    [Fact]
    public void Every_problem_is_reported_with_its_path_and_line()
    {
        var e = Fails("""
        {
          "model": {"path": "m"},
          "data": {"train": "t.jsonl"},
          "max_steps": 10,
          "lora": {
            "r": -1,
            "alpha": "big"
          },
          "optimizer": {"learning_rat": 0.1},
          "scheduler": {"type": "exponential"}
        }
        """);
        var byPath = e.Errors.ToDictionary(x => x.Path);
        Assert.Equal(4, e.Errors.Count);
        Assert.Equal(6, byPath["$.lora.r"].Line);
        Assert.Contains("between 1 and 4096 (got -1)", byPath["$.lora.r"].Message);
        Assert.Equal(7, byPath["$.lora.alpha"].Line);
        Assert.Contains("did you mean \"learning_rate\"", byPath["$.optimizer.learning_rat"].Message);
        Assert.Equal(9, byPath["$.optimizer.learning_rat"].Line);
        Assert.Contains("\"cosine\"", byPath["$.scheduler.type"].Message);
        Assert.Contains("job.json", e.Message);
    }

    [Fact]
    public void Required_fields_and_exclusive_options_are_enforced()
    {
        var e = Fails("""{"data": {}, "epochs": 1, "max_steps": 3}""");
        var paths = e.Errors.Select(x => x.Path).ToHashSet();
        Assert.Contains("$.model", paths);
        Assert.Contains("$.data.train", paths);
        Assert.Contains("$.max_steps", paths);

        var noLength = Fails("""{"model": {"path": "m"}, "data": {"train": "t"}}""");
        Assert.Contains(noLength.Errors, x => x.Message.Contains("\"epochs\" or \"max_steps\""));

        var evalWithoutData = Fails("""{"model": {"path": "m"}, "data": {"train": "t"}, "max_steps": 1, "eval": {"every_steps": 5}}""");
        Assert.Equal("$.eval.every_steps", Assert.Single(evalWithoutData.Errors).Path);
    }

    [Fact]
    public void Malformed_json_names_line_and_column()
    {
        var e = Fails("{\n  \"model\": {\"path\": \"m\"},\n  \"data\": \n}");
        var error = Assert.Single(e.Errors);
        Assert.Equal(4, error.Line);
        Assert.Contains("not valid JSON", error.Message);
    }

    [Fact]
    public void Array_items_are_located()
    {
        var e = Fails("""
        {"model": {"path": "m"}, "data": {"train": "t"}, "max_steps": 1,
         "lora": {"target_modules": ["q_proj",
                                     ""]}}
        """);
        var error = Assert.Single(e.Errors);
        Assert.Equal("$.lora.target_modules[1]", error.Path);
        Assert.Equal(3, error.Line);
    }

    [Fact]
    public void Newer_schema_versions_are_refused_with_advice()
    {
        var e = Fails("""{"schema_version": 2, "model": {"path": "m"}, "data": {"train": "t"}, "max_steps": 1}""");
        Assert.Contains("upgrade ftl-train", Assert.Single(e.Errors).Message);
    }

    [Fact]
    public void Load_resolves_relative_paths_against_the_job_file()
    {
        var dir = Directory.CreateTempSubdirectory("ftl-spec-");
        try
        {
            var file = Path.Combine(dir.FullName, "job.json");
            File.WriteAllText(file, """{"model": {"path": "models/tiny"}, "data": {"train": "/abs/train.jsonl", "validation": "val.jsonl"}, "max_steps": 1}""");
            var spec = JobSpecParser.Load(file);
            Assert.Equal(Path.Combine(dir.FullName, "models", "tiny"), spec.Model.Path);
            Assert.Equal("/abs/train.jsonl", spec.Data.Train);
            Assert.Equal(Path.Combine(dir.FullName, "val.jsonl"), spec.Data.Validation);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Missing_file_is_a_spec_error_not_a_crash()
    {
        var e = Assert.Throws<JobSpecException>(() => JobSpecParser.Load("/nonexistent/job.json"));
        Assert.Contains("cannot read the file", Assert.Single(e.Errors).Message);
    }
}

public class JobSpecExportTests
{
    private static JobSpec Parse(string json) => JobSpecParser.Parse(Encoding.UTF8.GetBytes(json), "job.json");

    [Fact]
    public void Export_gguf_takes_an_encoding_and_names_a_wrong_one_by_field_and_line()
    {
        Assert.Null(Parse("""{"model": {"path": "m"}, "data": {"train": "t.jsonl"}, "max_steps": 1}""").Export.Gguf);
        Assert.Equal("q8_0", Parse("""{"model": {"path": "m"}, "data": {"train": "t.jsonl"}, "max_steps": 1, "export": {"gguf": "q8_0"}}""").Export.Gguf);
        var e = Assert.Throws<JobSpecException>(() => Parse("""
            {"model": {"path": "m"}, "data": {"train": "t.jsonl"}, "max_steps": 1,
             "export": {"gguf": "q3_k"}}
            """));
        var err = Assert.Single(e.Errors);
        Assert.Equal("$.export.gguf", err.Path);
        Assert.Equal(2, err.Line);
        Assert.Contains("q4_k_m", err.Message);
        var unknown = Assert.Throws<JobSpecException>(() => Parse("""{"model": {"path": "m"}, "data": {"train": "t.jsonl"}, "max_steps": 1, "export": {"onnx": true}}"""));
        Assert.Contains(unknown.Errors, x => x.Path == "$.export.onnx");
    }
}
