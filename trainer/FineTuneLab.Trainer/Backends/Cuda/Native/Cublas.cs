using System.Runtime.InteropServices;

namespace FineTuneLab.Trainer.Backends.Cuda.Native;

/// <summary>
/// cuBLAS (libcublas.so.12 or .11), bound from CUDA 11.8's cublas_api.h: handle life cycle, stream and math mode, and the
/// two mixed-precision GEMMs the backend needs. cuBLAS is column-major: a row-major C = A·B is computed as Cᵀ = Bᵀ·Aᵀ.
/// </summary>
internal static unsafe partial class Cublas
{
    static Cublas() => NvidiaLibraries.EnsureResolverInstalled();

    private const string Lib = NvidiaLibraries.Cublas;

    [LibraryImport(Lib, EntryPoint = "cublasCreate_v2")]
    public static partial cublasStatus_t cublasCreate_v2(out nint handle);

    [LibraryImport(Lib, EntryPoint = "cublasDestroy_v2")]
    public static partial cublasStatus_t cublasDestroy_v2(nint handle);

    [LibraryImport(Lib, EntryPoint = "cublasGetVersion_v2")]
    public static partial cublasStatus_t cublasGetVersion_v2(nint handle, out int version);

    [LibraryImport(Lib, EntryPoint = "cublasGetProperty")]
    public static partial cublasStatus_t cublasGetProperty(libraryPropertyType type, out int value);

    [LibraryImport(Lib, EntryPoint = "cublasSetStream_v2")]
    public static partial cublasStatus_t cublasSetStream_v2(nint handle, nint streamId);

    [LibraryImport(Lib, EntryPoint = "cublasSetWorkspace_v2")]
    public static partial cublasStatus_t cublasSetWorkspace_v2(nint handle, void* workspace, nuint workspaceSizeInBytes);

    [LibraryImport(Lib, EntryPoint = "cublasSetMathMode")]
    public static partial cublasStatus_t cublasSetMathMode(nint handle, cublasMath_t mode);

    [LibraryImport(Lib, EntryPoint = "cublasGetMathMode")]
    public static partial cublasStatus_t cublasGetMathMode(nint handle, out cublasMath_t mode);

    [LibraryImport(Lib, EntryPoint = "cublasGetStatusName")]
    public static partial byte* cublasGetStatusName(cublasStatus_t status);

    [LibraryImport(Lib, EntryPoint = "cublasGetStatusString")]
    public static partial byte* cublasGetStatusString(cublasStatus_t status);

    /// <summary>C = alpha·op(A)·op(B) + beta·C with per-matrix element types; alpha/beta are host pointers of the scale type (fp32 for CUBLAS_COMPUTE_32F*).</summary>
    [LibraryImport(Lib, EntryPoint = "cublasGemmEx")]
    public static partial cublasStatus_t cublasGemmEx(nint handle, cublasOperation_t transa, cublasOperation_t transb,
        int m, int n, int k, void* alpha, ulong a, cudaDataType aType, int lda, ulong b, cudaDataType bType, int ldb,
        void* beta, ulong c, cudaDataType cType, int ldc, cublasComputeType_t computeType, cublasGemmAlgo_t algo);

    [LibraryImport(Lib, EntryPoint = "cublasGemmStridedBatchedEx")]
    public static partial cublasStatus_t cublasGemmStridedBatchedEx(nint handle, cublasOperation_t transa, cublasOperation_t transb,
        int m, int n, int k, void* alpha, ulong a, cudaDataType aType, int lda, long strideA,
        ulong b, cudaDataType bType, int ldb, long strideB, void* beta, ulong c, cudaDataType cType, int ldc, long strideC,
        int batchCount, cublasComputeType_t computeType, cublasGemmAlgo_t algo);

    public static void Check(cublasStatus_t status, string call)
    {
        if (status == cublasStatus_t.CUBLAS_STATUS_SUCCESS)
            return;
        var name = Enum.IsDefined(status) ? status.ToString() : $"cublasStatus_t {(int)status}";
        var text = cublasGetStatusString(status);
        throw new CudaException("libcublas", call, (int)status, name, text == null ? "" : Marshal.PtrToStringUTF8((nint)text) ?? "");
    }
}

/// <summary>
/// cuBLASLt (libcublasLt.so.12 or .11), from cublasLt.h: the minimum for one GEMM with a fused epilogue
/// (bias, GELU with its auxiliary output, bias gradient): descriptors, layouts, a heuristic query and the matmul.
/// </summary>
internal static unsafe partial class CublasLt
{
    static CublasLt() => NvidiaLibraries.EnsureResolverInstalled();

    private const string Lib = NvidiaLibraries.CublasLt;

    [LibraryImport(Lib, EntryPoint = "cublasLtCreate")]
    public static partial cublasStatus_t cublasLtCreate(out nint lightHandle);

    [LibraryImport(Lib, EntryPoint = "cublasLtDestroy")]
    public static partial cublasStatus_t cublasLtDestroy(nint lightHandle);

    [LibraryImport(Lib, EntryPoint = "cublasLtGetVersion")]
    public static partial nuint cublasLtGetVersion();

    [LibraryImport(Lib, EntryPoint = "cublasLtGetStatusName")]
    public static partial byte* cublasLtGetStatusName(cublasStatus_t status);

    [LibraryImport(Lib, EntryPoint = "cublasLtMatmulDescCreate")]
    public static partial cublasStatus_t cublasLtMatmulDescCreate(out nint matmulDesc, cublasComputeType_t computeType, cudaDataType scaleType);

    [LibraryImport(Lib, EntryPoint = "cublasLtMatmulDescDestroy")]
    public static partial cublasStatus_t cublasLtMatmulDescDestroy(nint matmulDesc);

    [LibraryImport(Lib, EntryPoint = "cublasLtMatmulDescSetAttribute")]
    public static partial cublasStatus_t cublasLtMatmulDescSetAttribute(nint matmulDesc, cublasLtMatmulDescAttributes_t attr, void* buf, nuint sizeInBytes);

    [LibraryImport(Lib, EntryPoint = "cublasLtMatrixLayoutCreate")]
    public static partial cublasStatus_t cublasLtMatrixLayoutCreate(out nint matLayout, cudaDataType type, ulong rows, ulong cols, long ld);

    [LibraryImport(Lib, EntryPoint = "cublasLtMatrixLayoutDestroy")]
    public static partial cublasStatus_t cublasLtMatrixLayoutDestroy(nint matLayout);

    [LibraryImport(Lib, EntryPoint = "cublasLtMatrixLayoutSetAttribute")]
    public static partial cublasStatus_t cublasLtMatrixLayoutSetAttribute(nint matLayout, cublasLtMatrixLayoutAttribute_t attr, void* buf, nuint sizeInBytes);

    [LibraryImport(Lib, EntryPoint = "cublasLtMatmulPreferenceCreate")]
    public static partial cublasStatus_t cublasLtMatmulPreferenceCreate(out nint pref);

    [LibraryImport(Lib, EntryPoint = "cublasLtMatmulPreferenceDestroy")]
    public static partial cublasStatus_t cublasLtMatmulPreferenceDestroy(nint pref);

    [LibraryImport(Lib, EntryPoint = "cublasLtMatmulPreferenceSetAttribute")]
    public static partial cublasStatus_t cublasLtMatmulPreferenceSetAttribute(nint pref, cublasLtMatmulPreferenceAttributes_t attr, void* buf, nuint sizeInBytes);

    [LibraryImport(Lib, EntryPoint = "cublasLtMatmulAlgoGetHeuristic")]
    public static partial cublasStatus_t cublasLtMatmulAlgoGetHeuristic(nint lightHandle, nint operationDesc,
        nint aDesc, nint bDesc, nint cDesc, nint dDesc, nint preference, int requestedAlgoCount,
        cublasLtMatmulHeuristicResult_t* heuristicResultsArray, out int returnAlgoCount);

    [LibraryImport(Lib, EntryPoint = "cublasLtMatmul")]
    public static partial cublasStatus_t cublasLtMatmul(nint lightHandle, nint computeDesc, void* alpha,
        ulong a, nint aDesc, ulong b, nint bDesc, void* beta, ulong c, nint cDesc, ulong d, nint dDesc,
        cublasLtMatmulAlgo_t* algo, ulong workspace, nuint workspaceSizeInBytes, nint stream);

    public static void Check(cublasStatus_t status, string call)
    {
        if (status == cublasStatus_t.CUBLAS_STATUS_SUCCESS)
            return;
        var text = cublasLtGetStatusName(status);
        var name = text == null ? status.ToString() : Marshal.PtrToStringUTF8((nint)text) ?? status.ToString();
        throw new CudaException("libcublasLt", call, (int)status, name, "");
    }
}
