using FineTuneLab.Trainer.Backends.Cuda.Native;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends.Cuda;

/// <summary>
/// The GPU backend: the device's primary context, one stream every kernel, copy and cuBLAS call is queued on, a caching
/// allocator, and the kernels of Backends/Cuda/Kernels compiled by NVRTC to a CUBIN for the device (cached on disk).
/// Work is asynchronous; the host waits only in <see cref="Synchronize"/>, <see cref="Download"/> and the methods that
/// return a host value (<see cref="SumOfSquares"/>, <see cref="LmHeadCrossEntropy"/>). Bad token ids or rope positions
/// are recorded on the device and reported at the next of those waits. Operands are checked by
/// <see cref="CheckedBackend"/>, which <see cref="BackendFactory.Cuda"/> wraps it in; only the kernels' own limits are
/// checked here.
/// </summary>
public sealed unsafe partial class CudaBackend : IBackend
{
    private readonly int _device;
    private readonly nint _context;
    private readonly nint _stream;
    private readonly nint _cublas;
    private readonly List<nint> _modules = [];
    private readonly Dictionary<string, nint> _functions = new(StringComparer.Ordinal);
    private readonly CudaAllocator _allocator;
    private readonly CudaMemoryBlock _errorFlags;
    private bool _disposed;

    /// <summary>Error flag slots (one int each): the first offending token index + 1, written by the kernels.</summary>
    private const int EmbeddingFlag = 0, EmbeddingBackwardFlag = 1, RopeFlag = 2, FlagCount = 4;

    /// <param name="deviceOrdinal">Which GPU (0 = the first).</param>
    /// <param name="allowTf32">Let fp32 GEMMs run on tensor cores as TF32 (about 1e-3 relative error, much faster).</param>
    /// <param name="kernelCacheDirectory">NVRTC image cache; null for the default folder.</param>
    public CudaBackend(int deviceOrdinal = 0, bool allowTf32 = true, string? kernelCacheDirectory = null)
    {
        Probe(deviceOrdinal);
        AllowTf32 = allowTf32;
        CudaDriver.Check(CudaDriver.cuDeviceGet(out var device, deviceOrdinal), $"cuDeviceGet({deviceOrdinal})");
        _device = device;
        CudaDriver.Check(CudaDriver.cuDevicePrimaryCtxRetain(out _context, device), "cuDevicePrimaryCtxRetain");
        _allocator = new CudaAllocator(new CudaDeviceMemory());
        try
        {
            CudaDriver.Check(CudaDriver.cuCtxSetCurrent(_context), "cuCtxSetCurrent");
            _currentContext = _context;
            Info = CudaSystemInfo.Query().Devices[deviceOrdinal];
            CudaDriver.Check(CudaDriver.cuDriverGetVersion(out var driverVersion), "cuDriverGetVersion");
            CudaDriver.Check(CudaDriver.cuStreamCreate(out _stream, CUstream_flags.CU_STREAM_DEFAULT), "cuStreamCreate");
            Cublas.Check(Cublas.cublasCreate_v2(out _cublas), "cublasCreate");
            Cublas.Check(Cublas.cublasSetStream_v2(_cublas, _stream), "cublasSetStream");
            Cublas.Check(Cublas.cublasSetMathMode(_cublas, allowTf32 ? cublasMath_t.CUBLAS_TF32_TENSOR_OP_MATH : cublasMath_t.CUBLAS_DEFAULT_MATH),
                "cublasSetMathMode");
            LoadKernels(new NvrtcCompiler(kernelCacheDirectory, driverVersion));
            _errorFlags = (CudaMemoryBlock)AllocateMemory(FlagCount * sizeof(int));
        }
        catch
        {
            // A failed start (an NVRTC error, a missing cuBLAS symbol) must not leave the context retained.
            _allocator.Dispose();
            if (_cublas != 0) Cublas.cublasDestroy_v2(_cublas);
            foreach (var module in _modules) CudaDriver.cuModuleUnload(module);
            if (_stream != 0) CudaDriver.cuStreamDestroy_v2(_stream);
            CudaDriver.cuDevicePrimaryCtxRelease_v2(_device);
            throw;
        }
    }

    public string Name => "cuda";
    public MemoryLocation Location => MemoryLocation.Cuda;
    public CudaDeviceInfo Info { get; }
    public bool AllowTf32 { get; }

    /// <summary>The caching allocator's byte counts (allocated, reserved, peaks) for memory events.</summary>
    public DeviceMemoryStats MemoryStats => _allocator.Stats;
    public void ResetPeakMemory() => _allocator.ResetPeaks();

    /// <summary>
    /// Checks that the driver, a GPU and the libraries the backend needs are present, throwing
    /// <see cref="CudaUnavailableException"/> with what to install or check otherwise.
    /// </summary>
    public static void Probe(int deviceOrdinal = 0)
    {
        try
        {
            NvidiaLibraries.Require(NvidiaLibraries.Cuda);
            var init = CudaDriver.cuInit(0);
            if (init == CUresult.CUDA_ERROR_NO_DEVICE)
                throw new CudaUnavailableException("the NVIDIA driver is installed but reports no CUDA GPU (cuInit: CUDA_ERROR_NO_DEVICE); " +
                    "check nvidia-smi, and CUDA_VISIBLE_DEVICES if it is set");
            CudaDriver.Check(init, "cuInit");
            CudaDriver.Check(CudaDriver.cuDeviceGetCount(out var count), "cuDeviceGetCount");
            if (count == 0)
                throw new CudaUnavailableException("the NVIDIA driver reports no CUDA GPU; check nvidia-smi and CUDA_VISIBLE_DEVICES");
            if (deviceOrdinal < 0 || deviceOrdinal >= count)
                throw new CudaUnavailableException($"GPU {deviceOrdinal} requested but the driver sees {count} GPU(s) (0..{count - 1})");
            NvidiaLibraries.Require(NvidiaLibraries.Cublas);
            NvidiaLibraries.Require(NvidiaLibraries.Nvrtc);
        }
        catch (NvidiaLibraryNotFoundException e)
        {
            throw new CudaUnavailableException($"CUDA backend unavailable: {e.Message}", e);
        }
        catch (CudaException e)
        {
            throw new CudaUnavailableException($"CUDA backend unavailable: the driver failed to start ({e.Message})", e);
        }
    }

    private void LoadKernels(NvrtcCompiler compiler)
    {
        foreach (var file in KernelSources.KernelFiles)
        {
            var image = compiler.CompileEmbedded(file, Info.ComputeCapability);
            fixed (byte* p = image.Image)
            {
                CudaDriver.Check(CudaDriver.cuModuleLoadData(out var module, p), $"cuModuleLoadData({file} for {Info.ComputeCapability.SmName})");
                _modules.Add(module);
            }
        }
    }

    private nint Function(string kernel)
    {
        if (_functions.TryGetValue(kernel, out var f)) return f;
        foreach (var module in _modules)
        {
            if (CudaDriver.cuModuleGetFunction(out f, module, kernel) == CUresult.CUDA_SUCCESS)
            {
                _functions[kernel] = f;
                return f;
            }
        }
        throw new InvalidOperationException($"no CUDA kernel named {kernel} in the compiled kernel files ({string.Join(", ", KernelSources.KernelFiles)})");
    }

    private readonly Dictionary<string, uint> _sharedOptIn = new(StringComparer.Ordinal);

    /// <summary>Raises a kernel's dynamic shared memory limit above 48 KiB (once per kernel), within what the device allows.</summary>
    private void AllowSharedBytes(string kernel, nint function, uint bytes)
    {
        if (_sharedOptIn.TryGetValue(kernel, out var allowed) && allowed >= bytes) return;
        if (bytes > Info.MaxSharedMemoryPerBlockOptInBytes)
            throw new NotSupportedException($"{kernel} needs {bytes} bytes of shared memory per block; {Info.Name} allows {Info.MaxSharedMemoryPerBlockOptInBytes}");
        CudaDriver.Check(CudaDriver.cuFuncSetAttribute(function, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, (int)bytes),
            $"cuFuncSetAttribute({kernel}, max dynamic shared memory {bytes})");
        _sharedOptIn[kernel] = bytes;
    }

    [ThreadStatic] private static nint _currentContext;

    /// <summary>The driver's current context is per thread; make ours current on whichever thread calls.</summary>
    private void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_currentContext == _context) return;
        CudaDriver.Check(CudaDriver.cuCtxSetCurrent(_context), "cuCtxSetCurrent");
        _currentContext = _context;
    }

    /// <summary>The default dynamic shared memory a kernel may use without opting in.</summary>
    private const uint DefaultSharedBytes = 48 * 1024;

    internal void Launch(in KernelCall call)
    {
        MakeCurrent();
        var function = Function(call.Kernel);
        if (call.SharedBytes > DefaultSharedBytes) AllowSharedBytes(call.Kernel, function, call.SharedBytes);
        var args = call.Args;
        var pointers = stackalloc void*[KernelArgs.Capacity];
        args.FillPointers(pointers);
        CudaDriver.Check(CudaDriver.cuLaunchKernel(function, call.GridX, call.GridY, call.GridZ, call.Block, 1, 1, call.SharedBytes,
            _stream, pointers, null), call.Kernel);
    }

    // ---------------------------------------------------------------- memory

    public IMemoryBlock AllocateMemory(long bytes)
    {
        MakeCurrent();
        var (address, classBytes) = _allocator.Rent(bytes);
        CudaDriver.Check(CudaDriver.cuMemsetD8Async(address, 0, (nuint)classBytes, _stream), "cuMemsetD8Async");
        return new CudaMemoryBlock(_allocator, address, bytes, classBytes);
    }

    /// <summary>Scratch device memory for one call's temporaries; disposing it right after queuing the work is safe (stream order).</summary>
    private CudaMemoryBlock Scratch(long bytes)
    {
        var (address, classBytes) = _allocator.Rent(bytes);
        return new CudaMemoryBlock(_allocator, address, bytes, classBytes);
    }

    public void Upload(Tensor hostSource, Tensor destination)
    {
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuMemcpyHtoDAsync_v2((ulong)destination.Data, (void*)hostSource.Data, (nuint)hostSource.Bytes, _stream), "cuMemcpyHtoDAsync");
    }

    public void Download(Tensor source, Tensor hostDestination)
    {
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuMemcpyDtoHAsync_v2((void*)hostDestination.Data, (ulong)source.Data, (nuint)source.Bytes, _stream), "cuMemcpyDtoHAsync");
        Synchronize();
    }

    public void Synchronize()
    {
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuStreamSynchronize(_stream), "cuStreamSynchronize");
        CheckErrorFlags();
    }

    private void CheckErrorFlags()
    {
        var flags = stackalloc int[FlagCount];
        CudaDriver.Check(CudaDriver.cuMemcpyDtoHAsync_v2(flags, (ulong)_errorFlags.Pointer, FlagCount * sizeof(int), _stream), "cuMemcpyDtoHAsync");
        CudaDriver.Check(CudaDriver.cuStreamSynchronize(_stream), "cuStreamSynchronize");
        if (flags[EmbeddingFlag] == 0 && flags[EmbeddingBackwardFlag] == 0 && flags[RopeFlag] == 0) return;
        CudaDriver.Check(CudaDriver.cuMemsetD8Async((ulong)_errorFlags.Pointer, 0, FlagCount * sizeof(int), _stream), "cuMemsetD8Async");
        if (flags[EmbeddingFlag] != 0)
            throw new ArgumentOutOfRangeException("ids", $"embedding lookup: token {flags[EmbeddingFlag] - 1} has an id outside the embedding table");
        if (flags[EmbeddingBackwardFlag] != 0)
            throw new ArgumentOutOfRangeException("ids", $"embedding backward: token {flags[EmbeddingBackwardFlag] - 1} has an id outside the embedding table");
        throw new ArgumentOutOfRangeException("positions", $"rope: token {flags[RopeFlag] - 1} has a position outside the rope table");
    }

    private nint Flag(int slot) => _errorFlags.Pointer + slot * sizeof(int);

    public void Dispose()
    {
        if (_disposed) return;
        MakeCurrent();
        CudaDriver.cuStreamSynchronize(_stream);
        _errorFlags.Dispose();
        _disposed = true;
        _allocator.Dispose();
        Cublas.cublasDestroy_v2(_cublas);
        foreach (var module in _modules) CudaDriver.cuModuleUnload(module);
        CudaDriver.cuStreamDestroy_v2(_stream);
        CudaDriver.cuDevicePrimaryCtxRelease_v2(_device);
    }
}
