namespace FineTuneLab.Trainer.Backends.Cuda.Native;

/// <summary>
/// Names the C type (from cuda.h, cublas_api.h, cublasLt.h, library_types.h or nvrtc.h) that an enum or struct mirrors.
/// The header check in the tests compiles a C program against the real headers and compares, for every type carrying
/// this attribute, each enum member's value with the C constant of the same name, or the struct's size and each field's
/// offset with the C struct's.
/// </summary>
[AttributeUsage(AttributeTargets.Enum | AttributeTargets.Struct, AllowMultiple = false)]
internal sealed class NativeTypeAttribute(string cName) : Attribute
{
    public string CName { get; } = cName;
}
