namespace FineTuneLab.Agent.Nvml;

/// <summary>
/// Names the C type in nvml.h that an enum or struct mirrors ("" for a set of #define constants), so the header check
/// in the tests can compare every value, size and field offset with the real header.
/// </summary>
[AttributeUsage(AttributeTargets.Enum | AttributeTargets.Struct, AllowMultiple = false)]
internal sealed class NativeTypeAttribute(string cName) : Attribute
{
    public string CName { get; } = cName;
}
