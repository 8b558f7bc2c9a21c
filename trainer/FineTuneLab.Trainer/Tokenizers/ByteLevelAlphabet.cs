namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>GPT-2's byte-to-unicode table: printable bytes map to themselves, the others to U+0100 upwards.</summary>
internal static class ByteLevelAlphabet
{
    public static readonly char[] ByteToChar = Build();
    public static readonly Dictionary<char, byte> CharToByte = ByteToChar.Select((c, b) => (c, (byte)b)).ToDictionary(x => x.c, x => x.Item2);

    private static char[] Build()
    {
        var table = new char[256];
        var n = 0;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            table[b] = printable ? (char)b : (char)(256 + n++);
        }
        return table;
    }
}
