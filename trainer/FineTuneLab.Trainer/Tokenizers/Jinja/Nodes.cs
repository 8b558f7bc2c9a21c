namespace FineTuneLab.Trainer.Tokenizers.Jinja;

/// <summary>Where a node starts in the template source, for error messages.</summary>
internal readonly record struct SourcePos(int Line, int Column)
{
    public static SourcePos Of(Token t) => new(t.Line, t.Column);
}

internal abstract record Expr(SourcePos Pos);

internal sealed record LiteralExpr(SourcePos Pos, object? Value) : Expr(Pos);
internal sealed record NameExpr(SourcePos Pos, string Name) : Expr(Pos);
internal sealed record ListExpr(SourcePos Pos, IReadOnlyList<Expr> Items, bool IsTuple) : Expr(Pos);
internal sealed record DictExpr(SourcePos Pos, IReadOnlyList<(Expr Key, Expr Value)> Pairs) : Expr(Pos);
internal sealed record AttrExpr(SourcePos Pos, Expr Target, string Name) : Expr(Pos);
internal sealed record ItemExpr(SourcePos Pos, Expr Target, Expr Index) : Expr(Pos);
internal sealed record SliceExpr(SourcePos Pos, Expr Target, Expr? Start, Expr? Stop, Expr? Step) : Expr(Pos);
internal sealed record CallArgs(IReadOnlyList<Expr> Positional, IReadOnlyList<(string Name, Expr Value)> Keyword)
{
    public static readonly CallArgs None = new([], []);
}
internal sealed record CallExpr(SourcePos Pos, Expr Callee, CallArgs Args) : Expr(Pos);
internal sealed record FilterExpr(SourcePos Pos, Expr Target, string Name, CallArgs Args) : Expr(Pos);
internal sealed record TestExpr(SourcePos Pos, Expr Target, string Name, CallArgs Args, bool Negated) : Expr(Pos);
internal sealed record UnaryExpr(SourcePos Pos, string Op, Expr Operand) : Expr(Pos);
internal sealed record BinaryExpr(SourcePos Pos, string Op, Expr Left, Expr Right) : Expr(Pos);
internal sealed record CompareExpr(SourcePos Pos, Expr First, IReadOnlyList<(string Op, Expr Operand)> Rest) : Expr(Pos);
internal sealed record ConcatExpr(SourcePos Pos, IReadOnlyList<Expr> Parts) : Expr(Pos);
internal sealed record CondExpr(SourcePos Pos, Expr Test, Expr Then, Expr? Else) : Expr(Pos);

internal abstract record Stmt(SourcePos Pos);

internal sealed record TextStmt(SourcePos Pos, string Text) : Stmt(Pos);
internal sealed record EmitStmt(SourcePos Pos, Expr Value) : Stmt(Pos);
internal sealed record ForStmt(SourcePos Pos, IReadOnlyList<string> Targets, Expr Iterable, Expr? Filter,
    IReadOnlyList<Stmt> Body, IReadOnlyList<Stmt> Else) : Stmt(Pos);
internal sealed record IfStmt(SourcePos Pos, IReadOnlyList<(Expr Test, IReadOnlyList<Stmt> Body)> Branches,
    IReadOnlyList<Stmt> Else) : Stmt(Pos);
/// <summary><c>set a = x</c>, <c>set a, b = x</c> or <c>set ns.attr = x</c> (Namespace non-null).</summary>
internal sealed record SetStmt(SourcePos Pos, IReadOnlyList<string> Targets, string? Namespace, Expr Value) : Stmt(Pos);
internal sealed record SetBlockStmt(SourcePos Pos, string Target, IReadOnlyList<(string Name, CallArgs Args, SourcePos Pos)> Filters,
    IReadOnlyList<Stmt> Body) : Stmt(Pos);
internal sealed record MacroStmt(SourcePos Pos, string Name, IReadOnlyList<(string Name, Expr? Default)> Parameters,
    IReadOnlyList<Stmt> Body) : Stmt(Pos);
internal sealed record BreakStmt(SourcePos Pos) : Stmt(Pos);
internal sealed record ContinueStmt(SourcePos Pos) : Stmt(Pos);
/// <summary>transformers' <c>{% generation %}</c> block: renders its body (it marks assistant text for masks).</summary>
internal sealed record GenerationStmt(SourcePos Pos, IReadOnlyList<Stmt> Body) : Stmt(Pos);
