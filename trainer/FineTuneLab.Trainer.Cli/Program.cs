using System.CommandLine;
using FineTuneLab.Trainer.Cli.Commands;

var root = new RootCommand("ftl-train: the FineTune Lab training runtime (LoRA / QLoRA fine-tuning on CPU and CUDA)");
foreach (var command in CommandCatalog.All())
    root.Subcommands.Add(command);
return await root.Parse(args).InvokeAsync();
