using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using FineTuneLab.TestSupport;

namespace FineTuneLab.NativeChecks;

/// <summary>
/// Checks hand-written P/Invoke declarations against the real C headers. From an assembly it collects
/// (1) every enum and struct carrying an attribute named NativeTypeAttribute (with a CName property) and
/// (2) every method with [LibraryImport] (or a hand-written [DllImport]); it then preprocesses the headers with gcc, finds each entry point's
/// prototype, and compiles and runs a C program that prints the C side: each enum constant's value and the enum's
/// size, each struct's size and field offsets, and the size of every parameter and return type of every function
/// (taking each function's address, so a name the headers do not declare fails the C compile).
/// The result is a list of mismatches, empty when our declarations agree with the headers.
/// Shared by the trainer's and the agent's tests (the agent's test project links this file).
/// </summary>
public static partial class NativeHeaderCheck
{
    /// <summary>Where scripts/lib/ensure-deps.sh unpacks the CUDA and NVML headers (FTL_NVIDIA_DIR overrides).</summary>
    public static string NvidiaDirectory => Environment.GetEnvironmentVariable("FTL_NVIDIA_DIR") is { Length: > 0 } dir ? dir : "/opt/ftl-nvidia";

    public static string IncludeDirectory => Path.Combine(NvidiaDirectory, "include");

    public sealed record Function(string Name, MethodInfo Method, string EntryPoint);

    public sealed record Report(IReadOnlyList<string> Mismatches, int EnumMembers, int Structs, int Functions, string CProgram, string COutput);

    public static async Task<Report> RunAsync(Assembly assembly, IReadOnlyList<string> headers)
    {
        if (!File.Exists(Path.Combine(IncludeDirectory, headers[0])))
            throw new InvalidOperationException($"{Path.Combine(IncludeDirectory, headers[0])} is missing: run scripts/lib/ensure-deps.sh");

        var enums = NativeTypes(assembly).Where(t => t.Type.IsEnum).ToList();
        var structs = NativeTypes(assembly).Where(t => t.Type.IsValueType && !t.Type.IsEnum).ToList();
        var functions = Imports(assembly);
        if (functions.Count == 0)
            throw new InvalidOperationException($"no [LibraryImport] methods found in {assembly.GetName().Name}");

        var work = Directory.CreateTempSubdirectory("ftl-header-check-");
        try
        {
            var includes = string.Concat(headers.Select(h => $"#include <{h}>\n"));
            var probe = Path.Combine(work.FullName, "headers.c");
            await File.WriteAllTextAsync(probe, includes);
            var preprocessed = (await ExternalProcess.RunAsync("gcc", ["-E", "-P", "-I" + IncludeDirectory, probe]))
                .EnsureSuccess("gcc -E on the NVIDIA headers").StdOut;
            var declarations = StripAttributes(preprocessed);

            var mismatches = new List<string>();
            var c = new StringBuilder(includes);
            c.Append("#include <stdio.h>\n#include <stddef.h>\n\nint main(void)\n{\n");
            foreach (var (type, cName) in enums)
            {
                if (cName.Length > 0)
                    c.Append(CultureInfo.InvariantCulture, $"    printf(\"enumsize {type.Name} %zu\\n\", sizeof({cName}));\n");
                foreach (var member in Enum.GetNames(type))
                    c.Append(CultureInfo.InvariantCulture, $"    printf(\"enum {type.Name}.{member} %lld\\n\", (long long)({member}));\n");
            }
            foreach (var (type, cName) in structs)
            {
                c.Append(CultureInfo.InvariantCulture, $"    printf(\"structsize {type.Name} %zu\\n\", sizeof({cName}));\n");
                foreach (var field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
                    c.Append(CultureInfo.InvariantCulture, $"    printf(\"offset {type.Name}.{field.Name} %zu\\n\", offsetof({cName}, {field.Name}));\n");
            }
            c.Append("    void (*volatile fn)(void);\n");
            var prototypes = new Dictionary<string, Prototype>();
            foreach (var f in functions)
            {
                var proto = FindPrototype(declarations, f.EntryPoint);
                if (proto is null)
                {
                    mismatches.Add($"{f.Name}: no declaration of {f.EntryPoint} in {string.Join(", ", headers)}");
                    continue;
                }
                prototypes[f.EntryPoint] = proto;
                c.Append(CultureInfo.InvariantCulture, $"    fn = (void (*)(void)){f.EntryPoint};\n");
                c.Append(CultureInfo.InvariantCulture, $"    printf(\"fn {f.EntryPoint} %zu\", {SizeOfExpression(proto.ReturnType)});\n");
                foreach (var p in proto.ParameterTypes)
                    c.Append(CultureInfo.InvariantCulture, $"    printf(\" %zu\", sizeof({p}));\n");
                c.Append("    printf(\"\\n\");\n");
            }
            c.Append("    (void)fn;\n    return 0;\n}\n");

            var source = Path.Combine(work.FullName, "check.c");
            var exe = Path.Combine(work.FullName, "check");
            await File.WriteAllTextAsync(source, c.ToString());
            var compile = await ExternalProcess.RunAsync("gcc", ["-std=gnu11", "-Wall", "-Werror", "-I" + IncludeDirectory, "-o", exe, source,
                // Only declarations matter: the program prints sizes and never calls the functions.
                "-Wl,--unresolved-symbols=ignore-all"]);
            if (compile.ExitCode != 0)
                return new Report([$"the C program did not compile against the headers:\n{compile.StdErr}"], 0, 0, 0, c.ToString(), "");
            var output = (await ExternalProcess.RunAsync(exe, [])).EnsureSuccess("the header check program").StdOut;
            var c_side = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')).ToList();

            var enumCount = 0;
            foreach (var line in c_side.Where(l => l[0] == "enum"))
            {
                var (typeName, member) = Split(line[1]);
                var type = enums.First(e => e.Type.Name == typeName).Type;
                var ours = Convert.ToInt64(Enum.Parse(type, member), CultureInfo.InvariantCulture);
                var theirs = long.Parse(line[2], CultureInfo.InvariantCulture);
                if (ours != theirs) mismatches.Add($"{typeName}.{member} = {ours}, the header says {theirs}");
                enumCount++;
            }
            foreach (var line in c_side.Where(l => l[0] == "enumsize"))
            {
                var type = enums.First(e => e.Type.Name == line[1]).Type;
                var ours = Marshal.SizeOf(Enum.GetUnderlyingType(type));
                if (ours != int.Parse(line[2], CultureInfo.InvariantCulture))
                    mismatches.Add($"{type.Name} is {ours} bytes, the C enum {line[2]}");
            }
            foreach (var line in c_side.Where(l => l[0] == "structsize"))
            {
                var type = structs.First(s => s.Type.Name == line[1]).Type;
                var ours = Marshal.SizeOf(type);
                if (ours != int.Parse(line[2], CultureInfo.InvariantCulture))
                    mismatches.Add($"struct {type.Name} is {ours} bytes, the C struct {line[2]}");
            }
            foreach (var line in c_side.Where(l => l[0] == "offset"))
            {
                var (typeName, field) = Split(line[1]);
                var type = structs.First(s => s.Type.Name == typeName).Type;
                var ours = (long)Marshal.OffsetOf(type, field);
                if (ours != long.Parse(line[2], CultureInfo.InvariantCulture))
                    mismatches.Add($"{typeName}.{field} is at offset {ours}, the C field at {line[2]}");
            }
            foreach (var line in c_side.Where(l => l[0] == "fn"))
            {
                var f = functions.First(x => x.EntryPoint == line[1]);
                var proto = prototypes[f.EntryPoint];
                var cSizes = line.Skip(2).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList();
                var parameters = f.Method.GetParameters();
                var where = $"{f.Method.DeclaringType!.Name}.{f.Name} → {f.EntryPoint}({string.Join(", ", proto.ParameterTypes)})";
                if (parameters.Length != proto.ParameterTypes.Count)
                {
                    mismatches.Add($"{where}: we pass {parameters.Length} arguments, the header declares {proto.ParameterTypes.Count}");
                    continue;
                }
                var returnSize = f.Method.ReturnType == typeof(void) ? 0 : ManagedSize(f.Method.ReturnType);
                if (returnSize != cSizes[0])
                    mismatches.Add($"{where}: return type {f.Method.ReturnType.Name} is {returnSize} bytes, the C {proto.ReturnType} {cSizes[0]}");
                for (var i = 0; i < parameters.Length; i++)
                {
                    var ours = ManagedSize(parameters[i].ParameterType);
                    if (ours != cSizes[i + 1])
                        mismatches.Add($"{where}: parameter {i} ({parameters[i].Name}: {parameters[i].ParameterType.Name}) is {ours} bytes, the C {proto.ParameterTypes[i]} {cSizes[i + 1]}");
                    var cFloat = IsFloatingPoint(proto.ParameterTypes[i]);
                    var ourFloat = parameters[i].ParameterType == typeof(float) || parameters[i].ParameterType == typeof(double);
                    if (cFloat != ourFloat)
                        mismatches.Add($"{where}: parameter {i} ({parameters[i].Name}) passes {(ourFloat ? "a floating-point" : "an integer or pointer")} value, the C type is {proto.ParameterTypes[i]}");
                }
            }
            return new Report(mismatches, enumCount, structs.Count, prototypes.Count, c.ToString(), output);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    public static List<(Type Type, string CName)> NativeTypes(Assembly assembly) =>
        [.. assembly.GetTypes()
            .Select(t => (Type: t, Attr: t.GetCustomAttributes(false).FirstOrDefault(a => a.GetType().Name == "NativeTypeAttribute")))
            .Where(x => x.Attr is not null)
            .Select(x => (x.Type, (string)x.Attr!.GetType().GetProperty("CName")!.GetValue(x.Attr)!))
            .OrderBy(x => x.Type.Name, StringComparer.Ordinal)];

    public static List<Function> Imports(Assembly assembly) =>
        [.. assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, Entry: EntryPointOf(m)))
            .Where(x => x.Entry is not null)
            .Select(x => new Function(x.Method.Name, x.Method, x.Entry!))
            .OrderBy(f => f.EntryPoint, StringComparer.Ordinal)];

    /// <summary>
    /// [LibraryImport] methods, and hand-written [DllImport] ones (not the generator's inner stubs, named &lt;...&gt;), of
    /// the libraries our resolver names (<c>ftl-…</c>: the NVIDIA ones, and the tests' deliberately wrong ones); an
    /// import of someone else's library (the GGUF tests call ggml through LLamaSharp's) has no header here.
    /// </summary>
    private static string? EntryPointOf(MethodInfo method)
    {
        if (method.GetCustomAttribute<LibraryImportAttribute>() is { } library)
            return library.LibraryName.StartsWith("ftl-", StringComparison.Ordinal) ? library.EntryPoint ?? method.Name : null;
        if (!method.Name.StartsWith('<') && method.GetCustomAttribute<DllImportAttribute>() is { } dll)
            return dll.Value.StartsWith("ftl-", StringComparison.Ordinal) ? dll.EntryPoint ?? method.Name : null;
        return null;
    }

    private static (string Type, string Member) Split(string dotted)
    {
        var dot = dotted.IndexOf('.');
        return (dotted[..dot], dotted[(dot + 1)..]);
    }

    private static int ManagedSize(Type type)
    {
        if (type.IsByRef || type.IsPointer || type == typeof(string) || type == typeof(nint) || type == typeof(nuint))
            return IntPtr.Size;
        if (type.IsEnum)
            return Marshal.SizeOf(Enum.GetUnderlyingType(type));
        if (type == typeof(bool))
            throw new InvalidOperationException("bool in a P/Invoke signature has no fixed C size; use int or byte");
        return Marshal.SizeOf(type);
    }

    private static bool IsFloatingPoint(string cType)
    {
        var t = cType.Replace("const", "", StringComparison.Ordinal).Trim();
        return t is "float" or "double";
    }

    private static string SizeOfExpression(string cType) => cType == "void" ? "(size_t)0" : $"sizeof({cType})";

    public sealed record Prototype(string ReturnType, IReadOnlyList<string> ParameterTypes);

    private static readonly HashSet<string> TypeKeywords =
        ["void", "char", "short", "int", "long", "float", "double", "signed", "unsigned", "const", "volatile", "struct", "enum", "union", "restrict", "__restrict"];

    /// <summary>The first declaration `RET NAME(PARAMS);` of <paramref name="name"/> in preprocessed C, or null.</summary>
    internal static Prototype? FindPrototype(string code, string name)
    {
        foreach (Match m in Regex.Matches(code, $@"\b{Regex.Escape(name)}\s*\("))
        {
            // Parameters: up to the matching parenthesis, which must be followed by ';' (a declaration, not a call or a body).
            var open = m.Index + m.Length - 1;
            var depth = 0;
            var close = -1;
            for (var i = open; i < code.Length; i++)
            {
                if (code[i] == '(') depth++;
                else if (code[i] == ')' && --depth == 0) { close = i; break; }
            }
            if (close < 0) continue;
            var after = close + 1;
            while (after < code.Length && char.IsWhiteSpace(code[after])) after++;
            if (after >= code.Length || code[after] != ';') continue;
            var start = m.Index - 1;
            while (start >= 0 && code[start] is not (';' or '}' or '{' or '#')) start--;
            var returnType = Normalize(code[(start + 1)..m.Index]);
            returnType = Regex.Replace(returnType, @"\b(extern|static|inline|__inline__)\b", "").Trim();
            if (returnType.Length == 0 || !DeclarationReturnType().IsMatch(returnType)) continue;
            var parameterText = Normalize(code[(open + 1)..close]);
            List<string> parameters = parameterText is "" or "void" ? [] : [.. SplitTopLevel(parameterText).Select(ParameterType)];
            return new Prototype(returnType, parameters);
        }
        return null;
    }

    private static IEnumerable<string> SplitTopLevel(string text)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] is '(' or '[') depth++;
            else if (text[i] is ')' or ']') depth--;
            else if (text[i] == ',' && depth == 0)
            {
                yield return text[start..i].Trim();
                start = i + 1;
            }
        }
        yield return text[start..].Trim();
    }

    /// <summary>"const char *name" → "const char *"; "int x[]" → "int *"; "unsigned int" stays.</summary>
    private static string ParameterType(string parameter)
    {
        var p = parameter;
        var isArray = false;
        var bracket = p.IndexOf('[');
        if (bracket >= 0)
        {
            p = p[..bracket].Trim();
            isArray = true;
        }
        var m = IdentifierAtEnd().Match(p);
        if (m.Success && !TypeKeywords.Contains(m.Value))
        {
            var rest = p[..m.Index].Trim();
            if (rest.Length > 0 && !rest.All(ch => ch == '*')) p = rest; // drop the parameter's name
        }
        p = Normalize(p);
        return isArray ? p + " *" : p;
    }

    private static string Normalize(string s) => Whitespace().Replace(s, " ").Trim();

    private static string StripAttributes(string code)
    {
        var sb = new StringBuilder(code.Length);
        var i = 0;
        while (i < code.Length)
        {
            var at = code.IndexOf("__attribute__", i, StringComparison.Ordinal);
            if (at < 0) { sb.Append(code, i, code.Length - i); break; }
            sb.Append(code, i, at - i);
            var j = code.IndexOf('(', at);
            var depth = 0;
            for (; j < code.Length; j++)
            {
                if (code[j] == '(') depth++;
                else if (code[j] == ')' && --depth == 0) break;
            }
            i = j + 1;
        }
        return sb.ToString();
    }

    [GeneratedRegex(@"[A-Za-z_][A-Za-z_0-9]*$")]
    private static partial Regex IdentifierAtEnd();

    // Words and stars only, and no statement keyword: "return f(x);" is a call, not a declaration.
    [GeneratedRegex(@"^(?!.*\b(return|if|else|while|for|do|switch|case|goto|sizeof|typedef)\b)[A-Za-z_][A-Za-z_0-9 ]*[ *]*$")]
    private static partial Regex DeclarationReturnType();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
