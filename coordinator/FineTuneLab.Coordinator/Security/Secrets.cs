using System.Security.Cryptography;
using System.Text;

namespace FineTuneLab.Coordinator.Security;

/// <summary>Comparing a presented secret with the configured one without telling an attacker how much of it matched.</summary>
public static class Secrets
{
    /// <summary>
    /// Whether <paramref name="given"/> equals <paramref name="expected"/>, in time independent of where they differ:
    /// both are hashed (SHA-256 of their UTF-8 bytes) to the same length first, so neither a differing length nor a
    /// differing prefix ends the compare early.
    /// </summary>
    public static bool FixedTimeEquals(string? given, string expected)
    {
        Span<byte> a = stackalloc byte[SHA256.HashSizeInBytes];
        Span<byte> b = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(given ?? ""), a);
        SHA256.HashData(Encoding.UTF8.GetBytes(expected), b);
        return CryptographicOperations.FixedTimeEquals(a, b) && given is not null;
    }
}
