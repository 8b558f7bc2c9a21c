using System.Text;

namespace FineTuneLab.Trainer.Tokenizers.Jinja;

/// <summary>
/// Walks the parsed template. Scoping follows Jinja2: a for-loop iteration and a macro call get their own frame
/// (a <c>set</c> inside them is gone afterwards and starts afresh each iteration), if-blocks do not; only a
/// <c>namespace()</c> object carries values out of a loop.
/// </summary>
internal sealed class Renderer
{
    private sealed class Frame(Frame? parent)
    {
        public Dictionary<string, object?> Vars { get; } = new(StringComparer.Ordinal);
        public Frame? Parent { get; } = parent;

        public bool TryGet(string name, out object? value)
        {
            for (var f = this; f is not null; f = f.Parent)
                if (f.Vars.TryGetValue(name, out value)) return true;
            value = null;
            return false;
        }
    }

    private enum Flow { Normal, Break, Continue }

    /// <summary>Thrown by the template's <c>raise_exception</c>; turned into <see cref="JinjaRaisedException"/> with the position.</summary>
    private sealed class RaisedByTemplate(string message) : Exception(message);

    private readonly Func<DateTime> _clock;
    private int _depth;

    public Renderer(Func<DateTime> clock) => _clock = clock;

    public string Render(IReadOnlyList<Stmt> body, IReadOnlyDictionary<string, object?> variables)
    {
        var globals = new Frame(null);
        AddGlobals(globals.Vars);
        var root = new Frame(globals);
        foreach (var (k, v) in variables) root.Vars[k] = v;
        var sb = new StringBuilder();
        var flow = Exec(body, root, sb);
        if (flow != Flow.Normal) throw new JinjaRenderException("'break' or 'continue' outside a for loop", 0, 0);
        return sb.ToString();
    }

    private void AddGlobals(Dictionary<string, object?> g)
    {
        g["range"] = new JinjaCallable("range", (args, _) => Range(args));
        g["namespace"] = new JinjaCallable("namespace", (args, kwargs) =>
        {
            var ns = new JinjaNamespace();
            foreach (var a in args)
            {
                if (a is not OrderedDictionary<string, object?> d) throw new PyError("namespace() takes keyword arguments or a dict");
                foreach (var (k, v) in d) ns.Attributes[k] = v;
            }
            foreach (var (k, v) in kwargs) ns.Attributes[k] = v;
            return ns;
        });
        g["dict"] = new JinjaCallable("dict", (args, kwargs) =>
        {
            var d = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
            foreach (var a in args)
            {
                if (a is not OrderedDictionary<string, object?> src) throw new PyError("dict() takes keyword arguments or a dict");
                foreach (var (k, v) in src) d[k] = v;
            }
            foreach (var (k, v) in kwargs) d[k] = v;
            return d;
        });
        g["raise_exception"] = new JinjaCallable("raise_exception", (args, _) =>
            throw new RaisedByTemplate(args.Count > 0 ? PyOps.Str(args[0]) : ""));
        g["strftime_now"] = new JinjaCallable("strftime_now", (args, _) =>
            PyStrftime.Format(_clock(), args.Count > 0 && args[0] is string f ? f : throw new PyError("strftime_now() needs a format string")));
    }

    private static List<object?> Range(IReadOnlyList<object?> args)
    {
        long L(object? o) => o is long l ? l : o is bool b ? (b ? 1 : 0) : throw new PyError($"'{PyOps.TypeName(o)}' object cannot be interpreted as an integer");
        var (start, stop, step) = args.Count switch
        {
            1 => (0L, L(args[0]), 1L),
            2 => (L(args[0]), L(args[1]), 1L),
            3 => (L(args[0]), L(args[1]), L(args[2])),
            _ => throw new PyError($"range expected 1 to 3 arguments, got {args.Count}"),
        };
        if (step == 0) throw new PyError("range() arg 3 must not be zero");
        var r = new List<object?>();
        for (var i = start; step > 0 ? i < stop : i > stop; i += step)
        {
            r.Add(i);
            if (r.Count > 100_000) throw new PyError("range too big (the sandbox allows at most 100000 items)");
        }
        return r;
    }

    // ---------------------------------------------------------------- statements

    private Flow Exec(IReadOnlyList<Stmt> body, Frame frame, StringBuilder sb)
    {
        foreach (var stmt in body)
        {
            var flow = ExecOne(stmt, frame, sb);
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow ExecOne(Stmt stmt, Frame frame, StringBuilder sb)
    {
        switch (stmt)
        {
            case TextStmt t:
                sb.Append(t.Text);
                return Flow.Normal;
            case EmitStmt e:
                sb.Append(PyOps.Str(Eval(e.Value, frame)));
                return Flow.Normal;
            case IfStmt i:
                foreach (var (test, branch) in i.Branches)
                    if (PyOps.Truthy(Eval(test, frame)))
                        return Exec(branch, frame, sb);
                return Exec(i.Else, frame, sb);
            case ForStmt f:
                return ExecFor(f, frame, sb);
            case SetStmt s:
                Assign(s, Eval(s.Value, frame), frame);
                return Flow.Normal;
            case SetBlockStmt b:
                var captured = new StringBuilder();
                Exec(b.Body, frame, captured);
                object? value = captured.ToString();
                foreach (var (name, args, pos) in b.Filters)
                    value = Guard(pos, () => ApplyFilter(name, value, args, frame));
                frame.Vars[b.Target] = value;
                return Flow.Normal;
            case MacroStmt m:
                frame.Vars[m.Name] = MakeMacro(m, frame);
                return Flow.Normal;
            case BreakStmt:
                return Flow.Break;
            case ContinueStmt:
                return Flow.Continue;
            case GenerationStmt g:
                // transformers renders the block through a call block: its own scope.
                return Exec(g.Body, new Frame(frame), sb);
            default:
                throw new JinjaRenderException($"cannot execute {stmt.GetType().Name}", stmt.Pos.Line, stmt.Pos.Column);
        }
    }

    private Flow ExecFor(ForStmt f, Frame frame, StringBuilder sb)
    {
        var source = Guard(f.Iterable.Pos, () => PyOps.Iterate(Eval(f.Iterable, frame)));
        IReadOnlyList<object?> items = source;
        if (f.Filter is not null)
        {
            var kept = new List<object?>();
            foreach (var item in source)
            {
                var probe = new Frame(frame);
                BindTargets(f.Targets, item, probe, f.Pos);
                if (PyOps.Truthy(Eval(f.Filter, probe))) kept.Add(item);
            }
            items = kept;
        }
        if (items.Count == 0) return Exec(f.Else, frame, sb);
        var loop = new LoopInfo(items);
        for (var i = 0; i < items.Count; i++)
        {
            loop.Index0 = i;
            var iteration = new Frame(frame);
            iteration.Vars["loop"] = loop;
            BindTargets(f.Targets, items[i], iteration, f.Pos);
            if (Exec(f.Body, iteration, sb) == Flow.Break) break;
        }
        return Flow.Normal;
    }

    private static void BindTargets(IReadOnlyList<string> targets, object? value, Frame frame, SourcePos pos)
    {
        if (targets.Count == 1)
        {
            frame.Vars[targets[0]] = value;
            return;
        }
        var parts = Guard(pos, () => PyOps.Iterate(value));
        if (parts.Count != targets.Count)
            throw new JinjaRenderException($"cannot unpack {parts.Count} values into {targets.Count} names", pos.Line, pos.Column);
        for (var i = 0; i < targets.Count; i++) frame.Vars[targets[i]] = parts[i];
    }

    private static void Assign(SetStmt s, object? value, Frame frame)
    {
        if (s.Namespace is not null)
        {
            if (!frame.TryGet(s.Namespace, out var target) || target is not JinjaNamespace ns)
                throw new JinjaRenderException($"cannot assign attribute on '{s.Namespace}', which is not a namespace()", s.Pos.Line, s.Pos.Column);
            ns.Attributes[s.Targets[0]] = value;
            return;
        }
        BindTargets(s.Targets, value, frame, s.Pos);
    }

    private JinjaCallable MakeMacro(MacroStmt m, Frame definingFrame) => new(m.Name, (args, kwargs) =>
    {
        if (args.Count > m.Parameters.Count)
            throw new PyError($"macro '{m.Name}' takes at most {m.Parameters.Count} arguments ({args.Count} given)");
        if (++_depth > 100) throw new PyError($"macro '{m.Name}' recursed too deeply");
        try
        {
            var frame = new Frame(definingFrame);
            for (var i = 0; i < m.Parameters.Count; i++)
            {
                var (name, def) = m.Parameters[i];
                frame.Vars[name] = i < args.Count ? args[i]
                    : kwargs.TryGetValue(name, out var kv) ? kv
                    : def is not null ? Eval(def, frame)
                    : new Undefined($"parameter '{name}' was not provided");
            }
            foreach (var k in kwargs.Keys)
                if (!m.Parameters.Any(p => p.Name == k))
                    throw new PyError($"macro '{m.Name}' takes no keyword argument '{k}'");
            var sb = new StringBuilder();
            Exec(m.Body, frame, sb);
            return sb.ToString();
        }
        finally
        {
            _depth--;
        }
    });

    // ---------------------------------------------------------------- expressions

    private static T Guard<T>(SourcePos pos, Func<T> f)
    {
        try
        {
            return f();
        }
        catch (PyError e)
        {
            throw new JinjaRenderException(e.Message, pos.Line, pos.Column, e);
        }
        catch (RaisedByTemplate r)
        {
            throw new JinjaRaisedException(r.Message, pos.Line, pos.Column);
        }
    }

    private object? Eval(Expr e, Frame frame)
    {
        try
        {
            return EvalCore(e, frame);
        }
        catch (PyError ex)
        {
            throw new JinjaRenderException(ex.Message, e.Pos.Line, e.Pos.Column, ex);
        }
        catch (RaisedByTemplate r)
        {
            throw new JinjaRaisedException(r.Message, e.Pos.Line, e.Pos.Column);
        }
    }

    private object? EvalCore(Expr e, Frame frame)
    {
        switch (e)
        {
            case LiteralExpr l:
                return l.Value;
            case NameExpr n:
                return frame.TryGet(n.Name, out var v) ? v : new Undefined($"'{n.Name}' is undefined");
            case ListExpr list:
                var items = list.Items.Select(x => Eval(x, frame)).ToList();
                return list.IsTuple ? items.ToArray() : items;
            case DictExpr dict:
                var d = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (ke, ve) in dict.Pairs)
                {
                    var key = Eval(ke, frame) as string ?? throw new PyError("dict literals with non-string keys are not supported");
                    d[key] = Eval(ve, frame);
                }
                return d;
            case AttrExpr a:
                return PyOps.GetAttr(Eval(a.Target, frame), a.Name);
            case ItemExpr i:
                return PyOps.GetItem(Eval(i.Target, frame), Eval(i.Index, frame));
            case SliceExpr s:
                return PyOps.Slice(Eval(s.Target, frame), s.Start is null ? null : Eval(s.Start, frame),
                    s.Stop is null ? null : Eval(s.Stop, frame), s.Step is null ? null : Eval(s.Step, frame));
            case CallExpr c:
                var callee = Eval(c.Callee, frame);
                var (args, kwargs) = EvalArgs(c.Args, frame);
                return callee switch
                {
                    JinjaCallable fn => fn.Invoke(args, kwargs),
                    Undefined u => throw PyOps.UndefinedError(u),
                    _ => throw new PyError($"'{PyOps.TypeName(callee)}' object is not callable"),
                };
            case FilterExpr f:
                return ApplyFilter(f.Name, Eval(f.Target, frame), f.Args, frame);
            case TestExpr t:
                var (targs, _) = EvalArgs(t.Args, frame);
                return Tests.Run(t.Name, Eval(t.Target, frame), targs) != t.Negated;
            case UnaryExpr u:
                var operand = Eval(u.Operand, frame);
                return u.Op switch
                {
                    "not" => !PyOps.Truthy(operand),
                    "-" => PyOps.Negate(operand),
                    _ => PyOps.IsNumber(operand) ? operand : operand is Undefined und ? throw PyOps.UndefinedError(und)
                        : throw new PyError($"bad operand type for unary +: '{PyOps.TypeName(operand)}'"),
                };
            case BinaryExpr b when b.Op == "and":
                var left = Eval(b.Left, frame);
                return PyOps.Truthy(left) ? Eval(b.Right, frame) : left;
            case BinaryExpr b when b.Op == "or":
                var l2 = Eval(b.Left, frame);
                return PyOps.Truthy(l2) ? l2 : Eval(b.Right, frame);
            case BinaryExpr b:
                return PyOps.Binary(b.Op, Eval(b.Left, frame), Eval(b.Right, frame));
            case CompareExpr c:
                var current = Eval(c.First, frame);
                foreach (var (op, operandExpr) in c.Rest)
                {
                    var next = Eval(operandExpr, frame);
                    var ok = op switch
                    {
                        "==" => PyOps.Equals(current, next),
                        "!=" => !PyOps.Equals(current, next),
                        "<" => PyOps.Compare(current, next, op) < 0,
                        "<=" => PyOps.Compare(current, next, op) <= 0,
                        ">" => PyOps.Compare(current, next, op) > 0,
                        ">=" => PyOps.Compare(current, next, op) >= 0,
                        "in" => PyOps.Contains(next, current),
                        "notin" => !PyOps.Contains(next, current),
                        _ => throw new PyError($"unknown comparison {op}"),
                    };
                    if (!ok) return false;
                    current = next;
                }
                return true;
            case ConcatExpr cc:
                var sb = new StringBuilder();
                foreach (var part in cc.Parts) sb.Append(PyOps.Str(Eval(part, frame)));
                return sb.ToString();
            case CondExpr ce:
                if (PyOps.Truthy(Eval(ce.Test, frame))) return Eval(ce.Then, frame);
                return ce.Else is null ? new Undefined("the inline if-expression was false and has no else") : Eval(ce.Else, frame);
            default:
                throw new PyError($"cannot evaluate {e.GetType().Name}");
        }
    }

    private (List<object?> Args, Dictionary<string, object?> Kwargs) EvalArgs(CallArgs callArgs, Frame frame)
    {
        var args = callArgs.Positional.Select(a => Eval(a, frame)).ToList();
        var kwargs = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, value) in callArgs.Keyword) kwargs[name] = Eval(value, frame);
        return (args, kwargs);
    }

    private object? ApplyFilter(string name, object? value, CallArgs callArgs, Frame frame)
    {
        var (args, kwargs) = EvalArgs(callArgs, frame);
        return Filters.Apply(name, value, args, kwargs);
    }
}
