using System.Net;
using FineTuneLab.Cli.Api;

namespace FineTuneLab.Cli.Tests;

/// <summary>Both error shapes the coordinator may answer: ours today and RFC 7807 ProblemDetails after its refactor.</summary>
public sealed class ApiErrorParsingTests
{
    [Fact]
    public void Our_error_body_gives_the_message_and_every_problem()
    {
        var e = ApiException.From(HttpStatusCode.BadRequest, "Bad Request",
            """{"error": "invalid job (2 problems)", "details": [{"path": "$.spec.lora.r", "line": 6, "column": 5, "message": "must be between 1 and 4096 (got -1)"}, {"path": "$.budget.max_usd", "message": "must be positive"}]}""");
        Assert.Equal("invalid job (2 problems)", e.Message);
        Assert.Equal(["$.spec.lora.r (line 6, column 5): must be between 1 and 4096 (got -1)", "$.budget.max_usd: must be positive"], e.Problems.Select(p => p.ToString()));
    }

    [Fact]
    public void Problem_details_with_an_errors_map_list_each_message_under_its_field()
    {
        var e = ApiException.From(HttpStatusCode.BadRequest, "Bad Request",
            """{"type": "https://tools.ietf.org/html/rfc9110#section-15.5.1", "title": "One or more validation errors occurred.", "status": 400, "errors": {"$.budget.max_usd": ["must be positive"], "$.resources.device": ["must be auto, cpu or cuda", "got gpu"]}}""");
        Assert.Equal("One or more validation errors occurred.", e.Message);
        Assert.Equal(["$.budget.max_usd: must be positive", "$.resources.device: must be auto, cpu or cuda", "$.resources.device: got gpu"], e.Problems.Select(p => p.ToString()));
    }

    [Fact]
    public void Problem_details_with_a_detail_and_an_errors_list()
    {
        var e = ApiException.From(HttpStatusCode.Conflict, "Conflict",
            """{"title": "Conflict", "detail": "cannot pause a job that is succeeded", "errors": [{"path": "$.spec", "line": 2, "message": "x"}, "plain"]}""");
        Assert.Equal("Conflict: cannot pause a job that is succeeded", e.Message);
        Assert.Equal(["$.spec (line 2): x", "plain"], e.Problems.Select(p => p.ToString()));
    }

    [Fact]
    public void A_body_that_is_not_json_is_shown_as_it_is()
    {
        Assert.Equal("upstream timed out", ApiException.From(HttpStatusCode.BadGateway, "Bad Gateway", "upstream timed out\n").Message);
        Assert.Equal("Bad Gateway", ApiException.From(HttpStatusCode.BadGateway, "Bad Gateway", "").Message);
    }
}
