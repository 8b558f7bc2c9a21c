namespace FineTuneLab.Cli.Config;

/// <summary>The coordinator this call talks to: <c>--url</c>/<c>--key</c>, else <c>FTL_URL</c>/<c>FTL_API_KEY</c>, else the saved config.</summary>
public sealed record Connection(Uri Url, string? ApiKey)
{
    public const string UrlVariable = "FTL_URL";
    public const string KeyVariable = "FTL_API_KEY";

    public static Connection Resolve(string? urlOption, string? keyOption)
    {
        CliConfig? saved = null;
        CliConfig Saved() => saved ??= CliConfig.Load();
        var url = NonEmpty(urlOption) ?? NonEmpty(Environment.GetEnvironmentVariable(UrlVariable)) ?? Saved().Url
            ?? throw new UsageException($"no coordinator: run `ftl login --url URL`, set {UrlVariable}, or pass --url");
        var key = NonEmpty(keyOption) ?? NonEmpty(Environment.GetEnvironmentVariable(KeyVariable)) ?? Saved().ApiKey;
        return new Connection(ParseUrl(url), key);
    }

    public static Uri ParseUrl(string text)
    {
        if (!Uri.TryCreate(text.TrimEnd('/') + "/", UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new UsageException($"coordinator URL '{text}' is not an http:// or https:// URL");
        return uri;
    }

    private static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s.Trim();
}
