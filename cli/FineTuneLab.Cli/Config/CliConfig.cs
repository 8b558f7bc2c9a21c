using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineTuneLab.Cli.Config;

/// <summary>
/// The user's saved coordinator: <c>$XDG_CONFIG_HOME/ftl/config.json</c> (else <c>~/.config/ftl/config.json</c>),
/// <c>{"url": "...", "api_key": "..."}</c>, readable by its owner only (it holds the API key).
/// </summary>
public sealed record CliConfig(string? Url, string? ApiKey)
{
    public static string FilePath
    {
        get
        {
            var xdg = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");
            var root = string.IsNullOrEmpty(xdg) ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config") : xdg;
            return Path.Combine(root, "ftl", "config.json");
        }
    }

    public static CliConfig Load()
    {
        var path = FilePath;
        if (!File.Exists(path)) return new CliConfig(null, null);
        try
        {
            var o = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new JsonException("not a JSON object");
            return new CliConfig(o["url"]?.GetValue<string>(), o["api_key"]?.GetValue<string>());
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or IOException)
        {
            throw new UsageException($"{path}: {e.Message} (fix it or run ftl login again)");
        }
    }

    /// <summary>Writes the file whole (temp file, then rename), mode 0600 in a 0700 folder, so no other user reads the key.</summary>
    public void Save()
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("ftl keeps its config with Unix file modes");
        var path = FilePath;
        var dir = Path.GetDirectoryName(path)!;
        if (!Directory.Exists(dir))
            Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var body = new JsonObject { ["url"] = Url, ["api_key"] = ApiKey }.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        var tmp = path + ".tmp-" + Environment.ProcessId;
        using (var file = new FileStream(tmp, new FileStreamOptions
               { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
        using (var writer = new StreamWriter(file))
            writer.Write(body + "\n");
        File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(tmp, path, overwrite: true);
    }
}
