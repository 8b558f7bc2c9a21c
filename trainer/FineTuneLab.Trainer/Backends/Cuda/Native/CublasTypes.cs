using System.Runtime.InteropServices;

namespace FineTuneLab.Trainer.Backends.Cuda.Native;

#pragma warning disable CA1707 // C names on purpose: the header check matches them one to one

[NativeType("cublasStatus_t")]
internal enum cublasStatus_t
{
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_ARCH_MISMATCH = 8,
    CUBLAS_STATUS_MAPPING_ERROR = 11,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
    CUBLAS_STATUS_INTERNAL_ERROR = 14,
    CUBLAS_STATUS_NOT_SUPPORTED = 15,
    CUBLAS_STATUS_LICENSE_ERROR = 16,
}

[NativeType("cublasOperation_t")]
internal enum cublasOperation_t
{
    CUBLAS_OP_N = 0,
    CUBLAS_OP_T = 1,
    CUBLAS_OP_C = 2,
}

/// <summary>cudaDataType (library_types.h): the element types a GEMM reads and writes.</summary>
[NativeType("cudaDataType")]
internal enum cudaDataType
{
    CUDA_R_32F = 0,
    CUDA_R_64F = 1,
    CUDA_R_16F = 2,
    CUDA_R_8I = 3,
    CUDA_R_32I = 10,
    CUDA_R_16BF = 14,
}

/// <summary>
/// cublasComputeType_t. CUBLAS_COMPUTE_32F is fp32 accumulation (what bf16 and fp16 inputs use);
/// CUBLAS_COMPUTE_32F_FAST_TF32 lets fp32 inputs run on tensor cores as TF32.
/// </summary>
[NativeType("cublasComputeType_t")]
internal enum cublasComputeType_t
{
    CUBLAS_COMPUTE_16F = 64,
    CUBLAS_COMPUTE_32F = 68,
    CUBLAS_COMPUTE_32F_PEDANTIC = 69,
    CUBLAS_COMPUTE_32F_FAST_16F = 74,
    CUBLAS_COMPUTE_32F_FAST_16BF = 75,
    CUBLAS_COMPUTE_32F_FAST_TF32 = 77,
}

[NativeType("cublasGemmAlgo_t")]
internal enum cublasGemmAlgo_t
{
    CUBLAS_GEMM_DEFAULT = -1,
    CUBLAS_GEMM_DEFAULT_TENSOR_OP = 99,
}

[Flags]
[NativeType("cublasMath_t")]
internal enum cublasMath_t
{
    CUBLAS_DEFAULT_MATH = 0,
    CUBLAS_TENSOR_OP_MATH = 1,
    CUBLAS_PEDANTIC_MATH = 2,
    CUBLAS_TF32_TENSOR_OP_MATH = 3,
    CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION = 16,
}

/// <summary>libraryPropertyType (library_types.h), for cublasGetProperty.</summary>
[NativeType("libraryPropertyType")]
internal enum libraryPropertyType
{
    MAJOR_VERSION = 0,
    MINOR_VERSION = 1,
    PATCH_LEVEL = 2,
}

[NativeType("cublasLtMatmulDescAttributes_t")]
internal enum cublasLtMatmulDescAttributes_t
{
    CUBLASLT_MATMUL_DESC_COMPUTE_TYPE = 0,
    CUBLASLT_MATMUL_DESC_SCALE_TYPE = 1,
    CUBLASLT_MATMUL_DESC_POINTER_MODE = 2,
    CUBLASLT_MATMUL_DESC_TRANSA = 3,
    CUBLASLT_MATMUL_DESC_TRANSB = 4,
    CUBLASLT_MATMUL_DESC_EPILOGUE = 7,
    CUBLASLT_MATMUL_DESC_BIAS_POINTER = 8,
    CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER = 11,
    CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD = 12,
    CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE = 26,
}

[NativeType("cublasLtMatrixLayoutAttribute_t")]
internal enum cublasLtMatrixLayoutAttribute_t
{
    CUBLASLT_MATRIX_LAYOUT_TYPE = 0,
    CUBLASLT_MATRIX_LAYOUT_ORDER = 1,
    CUBLASLT_MATRIX_LAYOUT_ROWS = 2,
    CUBLASLT_MATRIX_LAYOUT_COLS = 3,
    CUBLASLT_MATRIX_LAYOUT_LD = 4,
    CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT = 5,
    CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET = 6,
}

/// <summary>Epilogues fused into a cublasLt GEMM: bias add, GELU (with the pre-activation saved for backward), bias gradient.</summary>
[NativeType("cublasLtEpilogue_t")]
internal enum cublasLtEpilogue_t
{
    CUBLASLT_EPILOGUE_DEFAULT = 1,
    CUBLASLT_EPILOGUE_RELU = 2,
    CUBLASLT_EPILOGUE_BIAS = 4,
    CUBLASLT_EPILOGUE_GELU = 32,
    CUBLASLT_EPILOGUE_GELU_AUX = 32 | 128,
    CUBLASLT_EPILOGUE_GELU_BIAS = 32 | 4,
    CUBLASLT_EPILOGUE_GELU_AUX_BIAS = 32 | 128 | 4,
    CUBLASLT_EPILOGUE_DGELU = 64 | 128,
    CUBLASLT_EPILOGUE_DGELU_BGRAD = 64 | 128 | 16,
    CUBLASLT_EPILOGUE_BGRADA = 256,
    CUBLASLT_EPILOGUE_BGRADB = 512,
}

[NativeType("cublasLtMatmulPreferenceAttributes_t")]
internal enum cublasLtMatmulPreferenceAttributes_t
{
    CUBLASLT_MATMUL_PREF_SEARCH_MODE = 0,
    CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1,
}

/// <summary>cublasLtMatmulAlgo_t: a semi-opaque algorithm descriptor (64 bytes).</summary>
[NativeType("cublasLtMatmulAlgo_t")]
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct cublasLtMatmulAlgo_t
{
    public fixed ulong data[8];
}

/// <summary>One answer of cublasLtMatmulAlgoGetHeuristic.</summary>
[NativeType("cublasLtMatmulHeuristicResult_t")]
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct cublasLtMatmulHeuristicResult_t
{
    public cublasLtMatmulAlgo_t algo;
    public nuint workspaceSize;
    public cublasStatus_t state;
    public float wavesCount;
    public fixed int reserved[4];
}
