using System.CommandLine;
using FineTuneLab.Trainer.Tokenizers;

namespace FineTuneLab.Trainer.Cli.Commands;

/// <summary>Every ftl-train subcommand, one file each; add a new command's factory here.</summary>
internal static class CommandCatalog
{
    public static IEnumerable<Command> All() =>
    [
        VersionCommand.Create(),
        ValidateCommand.Create(),
        TokenizeCommand.Create(),
        BenchGemmCommand.Create(),
        DebugStepCommand.Create(),
        BenchCommand.Create(),
        GpuInfoCommand.Create(),
        GpuSelftestCommand.Create(),
        DataCheckCommand.Create(HfTokenizer.Load),
        TrainCommand.Create(),
        GenerateCommand.Create(),
        ExportCommand.Create(),
        PlanCommand.Create(),
        CompareCommand.Create(),
        QuantizeCommand.Create(),
        DebugDpoCommand.Create(),
    ];
}
