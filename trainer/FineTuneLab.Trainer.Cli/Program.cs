using System.CommandLine;
using FineTuneLab.Trainer.Cli.Commands;

var root = new RootCommand("ftl-train: the FineTune Lab training runtime (LoRA / QLoRA fine-tuning on CPU and CUDA)");
foreach (var command in CommandCatalog.All())
    root.Subcommands.Add(command);
// The train command handles SIGTERM/SIGINT itself (checkpoint, done event, exit 0: the trainer contract); since
// System.CommandLine 2.0.x cancels the action's token on SIGTERM too, its handling is turned off, as in the agent.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
