using FineTuneLab.Shared.Grpc;

namespace FineTuneLab.Shared.Tests.Grpc;

public sealed class GrpcProtocolTests
{
    [Theory]
    [InlineData("1H", 3600_000_000_0L)]
    [InlineData("2M", 1200_000_000L)]
    [InlineData("3S", 30_000_000L)]
    [InlineData("250m", 2_500_000L)]
    [InlineData("1500u", 15_000L)]
    [InlineData("99999999n", 1_000_000L)]
    [InlineData("1n", 1L)]
    public void Timeout_units_parse(string text, long ticks)
    {
        Assert.True(GrpcProtocol.TryParseTimeout(text, out var t));
        Assert.Equal(ticks, t.Ticks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("S")]
    [InlineData("10")]
    [InlineData("123456789S")]
    [InlineData("-5S")]
    [InlineData("5s")]
    [InlineData("5 S")]
    public void Malformed_timeouts_are_rejected(string text) => Assert.False(GrpcProtocol.TryParseTimeout(text, out _));

    [Theory]
    [InlineData(0.0005, "500000n")]
    [InlineData(0.25, "250000u")]
    [InlineData(30, "30000000u")]
    [InlineData(300, "300000m")]
    [InlineData(200_000, "200000S")]
    [InlineData(2_000_000_000, "33333334M")]
    public void Timeouts_format_in_the_finest_unit_that_fits_eight_digits(double seconds, string expected)
    {
        var text = GrpcProtocol.FormatTimeout(TimeSpan.FromSeconds(seconds));
        Assert.Equal(expected, text);
        Assert.True(GrpcProtocol.TryParseTimeout(text, out var back));
        Assert.True(back >= TimeSpan.FromSeconds(seconds), "a formatted timeout must never be shorter than the real one");
    }

    [Theory]
    [InlineData("plain ASCII text", "plain ASCII text")]
    [InlineData("100%", "100%25")]
    [InlineData("é", "%C3%A9")]
    [InlineData("line\nbreak", "line%0Abreak")]
    [InlineData("✓", "%E2%9C%93")]
    public void Grpc_message_is_percent_encoded_utf8(string message, string wire)
    {
        Assert.Equal(wire, GrpcProtocol.EncodeMessage(message));
        Assert.Equal(message, GrpcProtocol.DecodeMessage(wire));
    }

    [Fact]
    public void Malformed_percent_escapes_are_kept()
    {
        Assert.Equal("50%zz and %4", GrpcProtocol.DecodeMessage("50%zz and %4"));
    }

    [Theory]
    [InlineData("application/grpc", true)]
    [InlineData("application/grpc+proto", true)]
    [InlineData("application/grpc;charset=utf-8", true)]
    [InlineData("application/grpc-web", false)]
    [InlineData("application/json", false)]
    [InlineData(null, false)]
    public void Content_types(string? contentType, bool grpc) => Assert.Equal(grpc, GrpcProtocol.IsGrpcContentType(contentType));

    [Fact]
    public void Metadata_keys_and_values_are_checked()
    {
        var m = new Metadata();
        Assert.Throws<ArgumentException>(() => m.Add("x-bin", "text"));
        Assert.Throws<ArgumentException>(() => m.Add("x", new byte[1]));
        Assert.Throws<ArgumentException>(() => m.Add("grpc-status", "0"));
        Assert.Throws<ArgumentException>(() => m.Add("bad key", "v"));
        Assert.Throws<ArgumentException>(() => m.Add("k", "é"));
        m.Add("X-Mixed", "v");
        Assert.Equal("v", m.GetValue("x-mixed"));
    }
}
