namespace FineTuneLab.Trainer.Tokenizers.Jinja;

/// <summary>
/// Recursive-descent parser for the Jinja2 subset chat templates use, following Jinja2's own grammar and operator
/// precedence (condexpr → or → and → not → compare → + - → ~ → * / // % → ** → unary → postfix → filters/tests).
/// Anything outside the subset is a <see cref="JinjaSyntaxException"/> naming the line and column.
/// </summary>
internal sealed class TemplateParser
{
    private readonly List<Token> _tokens;
    private int _i;

    private TemplateParser(List<Token> tokens) => _tokens = tokens;

    public static IReadOnlyList<Stmt> Parse(string source)
    {
        var parser = new TemplateParser(TemplateLexer.Tokenize(source));
        var body = parser.ParseBody([]);
        if (parser.Current.Kind != TokenKind.Eof)
            throw Error($"unexpected '{parser.Current.Value}'", parser.Current);
        return body;
    }

    private Token Current => _tokens[_i];
    private Token Peek(int n = 1) => _tokens[Math.Min(_i + n, _tokens.Count - 1)];
    private Token Next() => _tokens[_i++];

    private static JinjaSyntaxException Error(string message, Token at) => new(message, at.Line, at.Column);

    private Token Expect(TokenKind kind, string? value = null)
    {
        var t = Current;
        if (t.Kind != kind || (value is not null && t.Value != value))
        {
            var wanted = value is not null ? $"'{value}'" : new Token(kind, "", 0, 0).ToString();
            throw Error($"expected {wanted}, found {t}", t);
        }
        _i++;
        return t;
    }

    private bool SkipIf(TokenKind kind, string value)
    {
        if (!Current.Is(kind, value)) return false;
        _i++;
        return true;
    }

    private bool SkipOperator(string op) => SkipIf(TokenKind.Operator, op);
    private bool SkipName(string name) => SkipIf(TokenKind.Name, name);

    // ---------------------------------------------------------------- statements

    /// <summary>Parses until a block tag whose name is one of <paramref name="endTags"/>; stops on that name token.</summary>
    private List<Stmt> ParseBody(string[] endTags)
    {
        var body = new List<Stmt>();
        while (true)
        {
            var t = Current;
            switch (t.Kind)
            {
                case TokenKind.Eof:
                    if (endTags.Length > 0)
                        throw Error($"unexpected end of template, expected {string.Join(" or ", endTags.Select(e => $"'{e}'"))}", t);
                    return body;
                case TokenKind.Data:
                    body.Add(new TextStmt(SourcePos.Of(t), t.Value));
                    _i++;
                    break;
                case TokenKind.VariableBegin:
                    _i++;
                    body.Add(new EmitStmt(SourcePos.Of(t), ParseTuple(withCondExpr: true)));
                    Expect(TokenKind.VariableEnd);
                    break;
                case TokenKind.BlockBegin:
                    var name = Peek();
                    if (name.Kind == TokenKind.Name && endTags.Contains(name.Value))
                    {
                        _i++;
                        return body;
                    }
                    if (name.Kind == TokenKind.Name && (name.Value.StartsWith("end", StringComparison.Ordinal) || name.Value is "else" or "elif"))
                        throw Error(endTags.Length == 0
                            ? $"unexpected '{name.Value}' (no open block it could close)"
                            : $"unexpected '{name.Value}', expected {string.Join(" or ", endTags.Select(e => $"'{e}'"))}", name);
                    _i++;
                    body.Add(ParseStatement());
                    break;
                default:
                    throw Error($"unexpected {t}", t);
            }
        }
    }

    private Stmt ParseStatement()
    {
        var t = Current;
        if (t.Kind != TokenKind.Name) throw Error($"expected a tag name, found {t}", t);
        _i++;
        var pos = SourcePos.Of(t);
        switch (t.Value)
        {
            case "for": return ParseFor(pos);
            case "if": return ParseIf(pos);
            case "set": return ParseSet(pos);
            case "macro": return ParseMacro(pos);
            case "break":
                Expect(TokenKind.BlockEnd);
                return new BreakStmt(pos);
            case "continue":
                Expect(TokenKind.BlockEnd);
                return new ContinueStmt(pos);
            case "generation":
                Expect(TokenKind.BlockEnd);
                var body = ParseBody(["endgeneration"]);
                _i++;
                Expect(TokenKind.BlockEnd);
                return new GenerationStmt(pos, body);
            default:
                if (t.Value.StartsWith("end", StringComparison.Ordinal) || t.Value is "else" or "elif")
                    throw Error($"unexpected '{t.Value}' (no open block it could close)", t);
                throw Error($"unsupported tag '{t.Value}' (this interpreter supports for, if, set, macro, break, continue, generation)", t);
        }
    }

    private ForStmt ParseFor(SourcePos pos)
    {
        var targets = ParseAssignTargets(out var ns);
        if (ns is not null) throw Error("a for loop cannot assign to a namespace attribute", Current);
        Expect(TokenKind.Name, "in");
        var iterable = ParseTuple(withCondExpr: false);
        Expr? filter = null;
        if (SkipName("if")) filter = ParseExpression();
        if (Current.IsName("recursive")) throw Error("recursive for loops are not supported", Current);
        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endfor", "else"]);
        List<Stmt> elseBody = [];
        if (Next().Value == "else")
        {
            Expect(TokenKind.BlockEnd);
            elseBody = ParseBody(["endfor"]);
            _i++;
        }
        Expect(TokenKind.BlockEnd);
        return new ForStmt(pos, targets, iterable, filter, body, elseBody);
    }

    private IfStmt ParseIf(SourcePos pos)
    {
        var branches = new List<(Expr, IReadOnlyList<Stmt>)>();
        var test = ParseTuple(withCondExpr: false);
        while (true)
        {
            Expect(TokenKind.BlockEnd);
            var body = ParseBody(["elif", "else", "endif"]);
            branches.Add((test, body));
            var tag = Next().Value;
            if (tag == "elif")
            {
                test = ParseTuple(withCondExpr: false);
                continue;
            }
            List<Stmt> elseBody = [];
            if (tag == "else")
            {
                Expect(TokenKind.BlockEnd);
                elseBody = ParseBody(["endif"]);
                _i++;
            }
            Expect(TokenKind.BlockEnd);
            return new IfStmt(pos, branches, elseBody);
        }
    }

    private Stmt ParseSet(SourcePos pos)
    {
        var targets = ParseAssignTargets(out var ns);
        if (SkipOperator("="))
        {
            var value = ParseTuple(withCondExpr: true);
            Expect(TokenKind.BlockEnd);
            return new SetStmt(pos, targets, ns, value);
        }
        if (targets.Count != 1 || ns is not null)
            throw Error("a block set ({% set x %}...{% endset %}) assigns exactly one plain name", Current);
        var filters = new List<(string, CallArgs, SourcePos)>();
        while (SkipOperator("|"))
        {
            var name = Expect(TokenKind.Name);
            if (!Filters.Exists(name.Value)) throw Error($"no filter named '{name.Value}'", name);
            filters.Add((name.Value, Current.IsOperator("(") ? ParseCallArgs() : CallArgs.None, SourcePos.Of(name)));
        }
        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endset"]);
        _i++;
        Expect(TokenKind.BlockEnd);
        return new SetBlockStmt(pos, targets[0], filters, body);
    }

    private MacroStmt ParseMacro(SourcePos pos)
    {
        var name = Expect(TokenKind.Name).Value;
        Expect(TokenKind.Operator, "(");
        var parameters = new List<(string, Expr?)>();
        while (!SkipOperator(")"))
        {
            if (parameters.Count > 0) Expect(TokenKind.Operator, ",");
            if (SkipOperator(")")) break;
            var p = Expect(TokenKind.Name).Value;
            Expr? def = null;
            if (SkipOperator("=")) def = ParseExpression();
            else if (parameters.Count > 0 && parameters[^1].Item2 is not null)
                throw Error("non-default macro parameter follows a default one", Current);
            parameters.Add((p, def));
        }
        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endmacro"]);
        _i++;
        if (Current.Kind == TokenKind.Name) _i++;
        Expect(TokenKind.BlockEnd);
        return new MacroStmt(pos, name, parameters, body);
    }

    /// <summary><c>a</c>, <c>a, b</c>, <c>(a, b)</c>, or <c>ns.attr</c> (returned with the namespace name in <paramref name="ns"/>).</summary>
    private List<string> ParseAssignTargets(out string? ns)
    {
        ns = null;
        var paren = SkipOperator("(");
        var first = Expect(TokenKind.Name);
        if (!paren && SkipOperator("."))
        {
            ns = first.Value;
            return [Expect(TokenKind.Name).Value];
        }
        var names = new List<string> { first.Value };
        while (SkipOperator(","))
        {
            if (Current.Kind != TokenKind.Name) break;
            names.Add(Next().Value);
        }
        if (paren) Expect(TokenKind.Operator, ")");
        foreach (var n in names)
            if (n is "true" or "false" or "none" or "True" or "False" or "None")
                throw Error($"cannot assign to '{n}'", first);
        return names;
    }

    // ---------------------------------------------------------------- expressions

    private Expr ParseTuple(bool withCondExpr)
    {
        var start = Current;
        var first = withCondExpr ? ParseExpression() : ParseOr();
        if (!Current.IsOperator(",")) return first;
        var items = new List<Expr> { first };
        while (SkipOperator(","))
        {
            if (Current.Kind is TokenKind.VariableEnd or TokenKind.BlockEnd || Current.IsOperator(")")) break;
            items.Add(withCondExpr ? ParseExpression() : ParseOr());
        }
        return new ListExpr(SourcePos.Of(start), items, IsTuple: true);
    }

    private Expr ParseExpression()
    {
        var expr = ParseOr();
        while (Current.IsName("if"))
        {
            var t = Next();
            var test = ParseOr();
            Expr? otherwise = null;
            if (SkipName("else")) otherwise = ParseExpression();
            expr = new CondExpr(SourcePos.Of(t), test, expr, otherwise);
        }
        return expr;
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or"))
        {
            var t = Next();
            left = new BinaryExpr(SourcePos.Of(t), "or", left, ParseAnd());
        }
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and"))
        {
            var t = Next();
            left = new BinaryExpr(SourcePos.Of(t), "and", left, ParseNot());
        }
        return left;
    }

    private Expr ParseNot()
    {
        if (Current.IsName("not"))
        {
            var t = Next();
            return new UnaryExpr(SourcePos.Of(t), "not", ParseNot());
        }
        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        var start = Current;
        var first = ParseMath1();
        var rest = new List<(string, Expr)>();
        while (true)
        {
            var t = Current;
            if (t.Kind == TokenKind.Operator && t.Value is "==" or "!=" or "<" or "<=" or ">" or ">=")
            {
                _i++;
                rest.Add((t.Value, ParseMath1()));
            }
            else if (t.IsName("in"))
            {
                _i++;
                rest.Add(("in", ParseMath1()));
            }
            else if (t.IsName("not") && Peek().IsName("in"))
            {
                _i += 2;
                rest.Add(("notin", ParseMath1()));
            }
            else break;
        }
        return rest.Count == 0 ? first : new CompareExpr(SourcePos.Of(start), first, rest);
    }

    private Expr ParseMath1()
    {
        var left = ParseConcat();
        while (Current.Kind == TokenKind.Operator && Current.Value is "+" or "-")
        {
            var t = Next();
            left = new BinaryExpr(SourcePos.Of(t), t.Value, left, ParseConcat());
        }
        return left;
    }

    private Expr ParseConcat()
    {
        var start = Current;
        var first = ParseMath2();
        if (!Current.IsOperator("~")) return first;
        var parts = new List<Expr> { first };
        while (SkipOperator("~")) parts.Add(ParseMath2());
        return new ConcatExpr(SourcePos.Of(start), parts);
    }

    private Expr ParseMath2()
    {
        var left = ParsePow();
        while (Current.Kind == TokenKind.Operator && Current.Value is "*" or "/" or "//" or "%")
        {
            var t = Next();
            left = new BinaryExpr(SourcePos.Of(t), t.Value, left, ParsePow());
        }
        return left;
    }

    private Expr ParsePow()
    {
        var left = ParseUnary(withFilter: true);
        while (Current.IsOperator("**"))
        {
            var t = Next();
            left = new BinaryExpr(SourcePos.Of(t), "**", left, ParseUnary(withFilter: true));
        }
        return left;
    }

    private Expr ParseUnary(bool withFilter)
    {
        var t = Current;
        Expr node;
        if (t.IsOperator("-") || t.IsOperator("+"))
        {
            _i++;
            node = new UnaryExpr(SourcePos.Of(t), t.Value, ParseUnary(withFilter: false));
        }
        else
            node = ParsePrimary();
        node = ParsePostfix(node);
        return withFilter ? ParseFilterExpr(node) : node;
    }

    private Expr ParsePrimary()
    {
        var t = Next();
        var pos = SourcePos.Of(t);
        switch (t.Kind)
        {
            case TokenKind.Name:
                return t.Value switch
                {
                    "true" or "True" => new LiteralExpr(pos, true),
                    "false" or "False" => new LiteralExpr(pos, false),
                    "none" or "None" => new LiteralExpr(pos, null),
                    _ => new NameExpr(pos, t.Value),
                };
            case TokenKind.String:
                var s = t.Value;
                while (Current.Kind == TokenKind.String) s += Next().Value;
                return new LiteralExpr(pos, s);
            case TokenKind.Integer:
                if (!long.TryParse(t.Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var l))
                    throw Error($"integer literal {t.Value} is out of range", t);
                return new LiteralExpr(pos, l);
            case TokenKind.Float:
                return new LiteralExpr(pos, double.Parse(t.Value, System.Globalization.CultureInfo.InvariantCulture));
            case TokenKind.Operator when t.Value == "(":
                if (SkipOperator(")")) return new ListExpr(pos, [], IsTuple: true);
                var inner = ParseTuple(withCondExpr: true);
                Expect(TokenKind.Operator, ")");
                return inner;
            case TokenKind.Operator when t.Value == "[":
                var items = new List<Expr>();
                while (!SkipOperator("]"))
                {
                    if (items.Count > 0) Expect(TokenKind.Operator, ",");
                    if (SkipOperator("]")) break;
                    items.Add(ParseExpression());
                }
                return new ListExpr(pos, items, IsTuple: false);
            case TokenKind.Operator when t.Value == "{":
                var pairs = new List<(Expr, Expr)>();
                while (!SkipOperator("}"))
                {
                    if (pairs.Count > 0) Expect(TokenKind.Operator, ",");
                    if (SkipOperator("}")) break;
                    var key = ParseExpression();
                    Expect(TokenKind.Operator, ":");
                    pairs.Add((key, ParseExpression()));
                }
                return new DictExpr(pos, pairs);
            default:
                throw Error($"unexpected {t}", t);
        }
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            var t = Current;
            if (t.IsOperator("."))
            {
                _i++;
                var name = Next();
                node = name.Kind switch
                {
                    TokenKind.Name => new AttrExpr(SourcePos.Of(t), node, name.Value),
                    TokenKind.Integer => new ItemExpr(SourcePos.Of(t), node, new LiteralExpr(SourcePos.Of(name), long.Parse(name.Value, System.Globalization.CultureInfo.InvariantCulture))),
                    _ => throw Error($"expected an attribute name after '.', found {name}", name),
                };
            }
            else if (t.IsOperator("["))
            {
                _i++;
                node = ParseSubscript(node, t);
            }
            else if (t.IsOperator("("))
                node = new CallExpr(SourcePos.Of(t), node, ParseCallArgs());
            else
                return node;
        }
    }

    private Expr ParseSubscript(Expr target, Token open)
    {
        Expr? start = null, stop = null, step = null;
        if (!Current.IsOperator(":"))
        {
            start = ParseExpression();
            if (SkipOperator("]")) return new ItemExpr(SourcePos.Of(open), target, start);
            if (Current.IsOperator(",")) throw Error("tuple subscripts are not supported", Current);
        }
        Expect(TokenKind.Operator, ":");
        if (!Current.IsOperator("]") && !Current.IsOperator(":")) stop = ParseExpression();
        if (SkipOperator(":") && !Current.IsOperator("]")) step = ParseExpression();
        Expect(TokenKind.Operator, "]");
        return new SliceExpr(SourcePos.Of(open), target, start, stop, step);
    }

    private CallArgs ParseCallArgs()
    {
        Expect(TokenKind.Operator, "(");
        var positional = new List<Expr>();
        var keyword = new List<(string, Expr)>();
        while (!SkipOperator(")"))
        {
            if (positional.Count + keyword.Count > 0)
            {
                Expect(TokenKind.Operator, ",");
                if (SkipOperator(")")) break;
            }
            if (Current.IsOperator("*") || Current.IsOperator("**"))
                throw Error("*args / **kwargs in calls are not supported", Current);
            if (Current.Kind == TokenKind.Name && Peek().IsOperator("="))
            {
                var name = Next().Value;
                _i++;
                keyword.Add((name, ParseExpression()));
            }
            else
            {
                if (keyword.Count > 0) throw Error("positional argument follows keyword argument", Current);
                positional.Add(ParseExpression());
            }
        }
        return new CallArgs(positional, keyword);
    }

    private Expr ParseFilterExpr(Expr node)
    {
        while (true)
        {
            var t = Current;
            if (t.IsOperator("|"))
            {
                _i++;
                var name = Expect(TokenKind.Name);
                if (!Filters.Exists(name.Value)) throw Error($"no filter named '{name.Value}'", name);
                var args = Current.IsOperator("(") ? ParseCallArgs() : CallArgs.None;
                node = new FilterExpr(SourcePos.Of(name), node, name.Value, args);
            }
            else if (t.IsName("is"))
            {
                _i++;
                var negated = SkipName("not");
                var name = Expect(TokenKind.Name);
                if (!Tests.Exists(name.Value)) throw Error($"no test named '{name.Value}'", name);
                var args = CallArgs.None;
                if (Current.IsOperator("("))
                    args = ParseCallArgs();
                else if ((Current.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float ||
                          Current.IsOperator("[") || Current.IsOperator("{")) &&
                         !(Current.IsName("else") || Current.IsName("or") || Current.IsName("and")))
                {
                    if (Current.IsName("is")) throw Error("tests cannot be chained with 'is'", Current);
                    args = new CallArgs([ParsePostfix(ParsePrimary())], []);
                }
                node = new TestExpr(SourcePos.Of(name), node, name.Value, args, negated);
            }
            else if (t.IsOperator("("))
                node = new CallExpr(SourcePos.Of(t), node, ParseCallArgs());
            else
                return node;
        }
    }
}
