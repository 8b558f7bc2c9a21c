// The CUDA backend's elementwise kernels on fp32 tensors, each giving the CPU backend's result for the IBackend
// method it serves: fill, scale, axpy, bias add and the bias gradient. Grid-stride: any grid size is correct, the
// backend picks one from the element count.
#include "ftl_common.cuh"

extern "C" __global__ void fill_f32(float* x, long long n, float value)
{
    FTL_GRID_STRIDE(i, n) x[i] = value;
}

extern "C" __global__ void scale_f32(float* y, const float* x, long long n, float alpha)
{
    FTL_GRID_STRIDE(i, n) y[i] = alpha * x[i];
}

extern "C" __global__ void axpy_f32(float* y, const float* x, long long n, float alpha)
{
    FTL_GRID_STRIDE(i, n) y[i] += alpha * x[i];
}

// y[r, c] += bias[c] for y [rows, cols].
extern "C" __global__ void add_bias_f32(float* y, const float* bias, long long rows, int cols)
{
    FTL_GRID_STRIDE(i, rows * cols) y[i] += bias[i % cols];
}

// dbias[c] += sum over r of dy[r, c]: one thread per column summing rows in order, so the result is deterministic
// (no atomics) and adjacent threads read adjacent addresses.
extern "C" __global__ void bias_grad_f32(float* dbias, const float* dy, long long rows, int cols)
{
    FTL_GRID_STRIDE(c, (long long)cols) {
        float acc = 0.f;
        for (long long r = 0; r < rows; ++r) acc += dy[r * cols + c];
        dbias[c] += acc;
    }
}
