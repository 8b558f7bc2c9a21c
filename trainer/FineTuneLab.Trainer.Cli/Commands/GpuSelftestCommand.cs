using System.CommandLine;
using FineTuneLab.Trainer.Backends.Cuda.SelfTest;

namespace FineTuneLab.Trainer.Cli.Commands;

/// <summary>
/// ftl-train gpu-selftest: every backend op and whole LoRA training steps on the GPU against the CPU backend, then the
/// bench presets on the GPU. Exit 0 all pass, 1 a check failed, 2 no usable CUDA GPU.
/// </summary>
internal static class GpuSelftestCommand
{
    public static Command Create()
    {
        var command = new Command("gpu-selftest", "Check the CUDA backend op by op and step by step against the CPU backend, then benchmark it (exit 2 without a GPU)");
        command.SetAction(_ => GpuSelfTest.Run(Console.Out));
        return command;
    }
}
