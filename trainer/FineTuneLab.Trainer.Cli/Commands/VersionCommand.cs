using System.CommandLine;
using System.Reflection;

namespace FineTuneLab.Trainer.Cli.Commands;

internal static class VersionCommand
{
    public static Command Create()
    {
        var command = new Command("version", "Print the trainer's version and runtime");
        command.SetAction(_ =>
        {
            var version = typeof(VersionCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
            Console.WriteLine($"ftl-train {version} (.NET {Environment.Version}, {Environment.ProcessorCount} logical cores)");
            return 0;
        });
        return command;
    }
}
