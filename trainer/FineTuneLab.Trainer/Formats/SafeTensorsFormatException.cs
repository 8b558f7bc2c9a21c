namespace FineTuneLab.Trainer.Formats;

/// <summary>A safetensors file or folder that cannot be read as one; the message names the file and the tensor.</summary>
public sealed class SafeTensorsFormatException(string message) : Exception(message);
