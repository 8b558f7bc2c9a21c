using System.CommandLine;
using FineTuneLab.Trainer.Jobs;

namespace FineTuneLab.Trainer.Cli.Commands;

/// <summary><c>ftl-train validate --config job.json</c>: checks a job spec and lists every problem with its line.</summary>
internal static class ValidateCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo>("--config") { Description = "The job spec (JSON) to check", Required = true };
        var command = new Command("validate", "Check a job spec and report every problem with its field and line") { config };
        command.SetAction(parse =>
        {
            var file = parse.GetValue(config)!;
            try
            {
                var spec = JobSpecParser.Load(file.FullName);
                Console.WriteLine($"{file.FullName}: valid (schema version {spec.SchemaVersion}, method {spec.Method.ToString().ToLowerInvariant()})");
                return 0;
            }
            catch (JobSpecException e)
            {
                Console.Error.WriteLine(e.Message);
                return 2;
            }
        });
        return command;
    }
}
