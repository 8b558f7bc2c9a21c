namespace FineTuneLab.Trainer.Tests.Tokenizers;

/// <summary>Texts that exercise the corners of tokenization; every family encodes them and HF's answers are the reference.</summary>
internal static class HardCases
{
    public static readonly string[] Texts =
    [
        "",
        " ",
        "          ",
        "Hello world",
        " leading space and trailing space ",
        "I'M HE'S WE'LL THEY'D DON'T YOU'RE I'VE it's we'Re O'NEIL 'S' 'ſ Iſ's",
        "don't  'tis ’s ’S rock'n'roll ''' '",
        "line1\r\nline2\r\n\r\nline3\n\n\n  \n\t\n",
        "\r\r\n\n \r \n  x",
        "tabs\t\t\tand  spaces   \t  mixed\u00A0nbsp\u3000ideographic\u2028sep\u2029para\u0085nel",
        new string(' ', 67) + "x" + new string('\t', 9) + "y" + new string('\n', 12),
        "1234567890 3.14159 1,000,000 ١٢٣٤ ⅷ ½ ²³ 00007 123abc456",
        "😀 👨‍👩‍👧‍👦 🏳️‍🌈 👍🏽 🇯🇵🇫🇷 ❤️ 🧑🏾‍🚀 a😀b",
        "中文字符测试，标点符号。日本語のテキスト、カタカナ。한국어 텍스트 𠀀𠀁",
        "e\u0301 a\u0308 n\u0303 \u1100\u1161\u11A8 Å Ω ﬁ ① Ａ ｶﾞ",
        " \u0301x \u0301\u0302 ा क्षि",
        "Mixed: English, Русский, Ελληνικά, العربية, עברית, हिन्दी, ไทย, 日本",
        "𝐁𝐨𝐥𝐝 𝓢𝓬𝓻𝓲𝓹𝓽 ǅungla ǈ ᾈ ʰʲ ˈstress ʻokina",
        "control\u0000chars\u0001\u0007\u001b[0m\u007f\u200b\u200d\uFEFF",
        "\U0001F99C\U00013000\U0010FFFD \uFFFF \uE000 \u0378",
        "<s>Hello</s> <s> </s><unk>",
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
        "<bos><start_of_turn>user\nhello<end_of_turn>\n<eos> <pad>",
        "<|endoftext|>x<|endoftext|><|endofprompt|>  <|endoftext|>",
        "text<s>text <s> text</s>",
        "def f(x):\n    return x**2  # comment\n\tif x >= 10 && y != 3 { z = a->b; }",
        "{\"key\": [1, 2.5, null, true], \"nested\": {\"a\": \"\\u00e9\"}}",
        "https://example.com/path?q=1&r=%20#frag user@example.org /usr/bin/env",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "Supercalifragilisticexpialidocious pneumonoultramicroscopicsilicovolcanoconiosis",
        "▁▁leading▁meta ▁x▁",
        "...!!!???---___===+++***///",
        "ÀÉÎÕÜ àéîõü ÇçÑñ ß ẞ Ǆǅǆ ĳ ŉ",
    ];
}
