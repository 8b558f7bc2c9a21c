namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>A tokenizer.json that cannot be read: malformed JSON, a missing or mistyped field, or a component we do not implement.
/// The message names the file and the JSON path of the offending field.</summary>
public sealed class TokenizerFormatException : Exception
{
    public TokenizerFormatException(string file, string jsonPath, string message, Exception? inner = null)
        : base($"{file}: {jsonPath}: {message}", inner)
    {
        File = file;
        JsonPath = jsonPath;
    }

    public string File { get; }
    public string JsonPath { get; }
}
