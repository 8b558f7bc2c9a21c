// Causal grouped-query attention, forward and backward, in the tiled online-softmax form of FlashAttention-2:
// scores are never materialised; the forward keeps a running max and sum per query row and saves only the
// logsumexp (fp32) that the backward needs to rebuild the probabilities. fp32 accumulation, fp32/bf16/fp16 I/O.
//
// Layouts (token-major, as the QKV projection writes them):
//   q, out, dq, dout: [batch, q_seq, q_heads, head_dim]     k, v, dk, dv: [batch, k_seq, kv_heads, head_dim]
//   lse, delta:       [batch, q_heads, q_seq] (fp32)
// q_seq <= k_seq: query i sits at absolute position p = k_seq - q_seq + i (q_seq = k_seq in training, q_seq = 1 when
// decoding over a KV cache). Key j is visible to query i when j <= p, when p - j < window (window > 0: Mistral's
// sliding window), and when both carry the same id in segment_ids ([batch, k_seq], may be null: packed documents).
// Query head h reads kv head h / (q_heads / kv_heads). Each kernel exists for head_dim up to 128 (MAXE = 4 slices of 32)
// and, suffixed _d256, up to 256 (MAXE = 8: Gemma 3's heads); lane l owns output dims l + 32 e (e < ceil(head_dim / 32)),
// and the lanes past head_dim in the last slice compute on unused shared memory and write nothing.
// scale is the softmax scale (1 / sqrt(head_dim) unless the model says otherwise). A row with no visible key gets
// output 0 and lse -inf.
//
// Work split: lanes take one key each to compute scores (a full dot product per lane, from shared memory padded to
// avoid bank conflicts), then one head_dim slice each (d = lane + 32 e) to accumulate outputs, with the per-key
// weights broadcast by shuffles. The tiles live in dynamic shared memory sized for the kernel's head-dim capacity
// (CudaLaunches.AttentionSharedBytes: about 41 KiB for 128, 82 KiB for 256, which needs the per-kernel opt-in above
// the default 48 KiB).
#include "ftl_common.cuh"

#define ATT_TILE 32    // keys per tile (one per lane) and query rows per tile in dk/dv
#define ATT_WARPS 8    // warps per block (256 threads)
#define ATT_FWD_QPW 2  // query rows per warp in the forward

// The block's dynamic shared memory. The host emulation runs one block at a time, so a static array of the largest
// size (the d256 backward: 2 * 32 * 257 + 2 * 8 * 256 floats) stands in for it.
#ifdef FTL_HOST_EMULATION
#define ATT_SHARED(name) static float name[2 * ATT_TILE * (256 + 1) + 2 * ATT_WARPS * 256]
#else
#define ATT_SHARED(name) extern __shared__ float name[]
#endif

__device__ __forceinline__ long long qkv_index(int b, int t, int h, int heads, int seq, int head_dim)
{
    return (((long long)b * seq + t) * heads + h) * head_dim;
}

__device__ __forceinline__ bool same_segment(const int* segment_ids, int b, int k_seq, int p, int j)
{
    return segment_ids == 0 || segment_ids[(long long)b * k_seq + p] == segment_ids[(long long)b * k_seq + j];
}

// Whether key j is visible from absolute position p (causal, sliding window, same segment).
__device__ __forceinline__ bool visible(const int* segment_ids, int b, int k_seq, int window, int p, int j)
{
    return j <= p && (window <= 0 || p - j < window) && same_segment(segment_ids, b, k_seq, p, j);
}

// The first key tile that position p_first may see (tiles start at multiples of ATT_TILE).
__device__ __forceinline__ int first_key_tile(int p_first, int window)
{
    const int lo = window > 0 ? max(0, p_first - window + 1) : 0;
    return lo / ATT_TILE * ATT_TILE;
}

// grid: (ceil(q_seq / (ATT_WARPS * ATT_FWD_QPW)), q_heads, batch), block: ATT_WARPS * 32.
// Shared: Ks [ATT_TILE][MAXD + 1] (padded: lanes read different rows), Vs [ATT_TILE][MAXD], Qs [rows][MAXD].
template <int MAXE, typename T>
__device__ void attn_fwd_impl(T* out, float* lse, const T* q, const T* k, const T* v, const int* segment_ids,
                              int q_seq, int k_seq, int q_heads, int kv_heads, int head_dim, float scale, int window)
{
    constexpr int MAXD = 32 * MAXE;
    ATT_SHARED(smem);
    float* Ks = smem;
    float* Vs = Ks + ATT_TILE * (MAXD + 1);
    float* Qs = Vs + ATT_TILE * MAXD;
    const int rows = ATT_WARPS * ATT_FWD_QPW;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int b = blockIdx.z, h = blockIdx.y, hk = h / (q_heads / kv_heads);
    const int q0 = blockIdx.x * rows;
    const int E = (head_dim + 31) >> 5;
    const int off = k_seq - q_seq;

    for (int idx = threadIdx.x; idx < rows * head_dim; idx += blockDim.x) {
        const int r = idx / head_dim, d = idx % head_dim, t = q0 + r;
        Qs[r * MAXD + d] = t < q_seq ? to_f32(q[qkv_index(b, t, h, q_heads, q_seq, head_dim) + d]) * scale : 0.f;
    }
    float m[ATT_FWD_QPW], l[ATT_FWD_QPW], acc[ATT_FWD_QPW][MAXE];
    for (int r = 0; r < ATT_FWD_QPW; ++r) {
        m[r] = neg_inf();
        l[r] = 0.f;
        for (int e = 0; e < MAXE; ++e) acc[r][e] = 0.f;
    }
    const int p_last = min(q_seq - 1, q0 + rows - 1) + off;
    for (int k0 = first_key_tile(q0 + off, window); k0 <= p_last; k0 += ATT_TILE) {
        __syncthreads(); // the previous tile is consumed (and Qs is complete on the first pass)
        for (int idx = threadIdx.x; idx < ATT_TILE * head_dim; idx += blockDim.x) {
            const int j = idx / head_dim, d = idx % head_dim, t = k0 + j;
            const bool in = t < k_seq;
            Ks[j * (MAXD + 1) + d] = in ? to_f32(k[qkv_index(b, t, hk, kv_heads, k_seq, head_dim) + d]) : 0.f;
            Vs[j * MAXD + d] = in ? to_f32(v[qkv_index(b, t, hk, kv_heads, k_seq, head_dim) + d]) : 0.f;
        }
        __syncthreads();
        for (int r = 0; r < ATT_FWD_QPW; ++r) {
            const int row = warp * ATT_FWD_QPW + r, t = q0 + row, pos = t + off;
            if (t >= q_seq || k0 > pos) continue; // uniform across the warp
            if (window > 0 && k0 + ATT_TILE <= pos - window + 1) continue; // the whole tile is behind the window
            const int kj = k0 + lane;
            const bool valid = visible(segment_ids, b, k_seq, window, pos, kj);
            float s = neg_inf();
            if (valid) {
                float dot = 0.f;
                for (int d = 0; d < head_dim; ++d) dot += Qs[row * MAXD + d] * Ks[lane * (MAXD + 1) + d];
                s = dot;
            }
            const float tile_max = warp_max(s);
            if (tile_max == neg_inf()) continue;
            const float m_new = fmaxf(m[r], tile_max);
            const float p = valid ? expf(s - m_new) : 0.f;
            const float correction = expf(m[r] - m_new);
            l[r] = l[r] * correction + warp_sum(p);
            for (int e = 0; e < MAXE; ++e) acc[r][e] *= correction;
            for (int j = 0; j < ATT_TILE; ++j) {
                const float pj = __shfl_sync(FTL_FULL_MASK, p, j);
                for (int e = 0; e < MAXE; ++e)
                    if (e < E) acc[r][e] += pj * Vs[j * MAXD + lane + 32 * e];
            }
            m[r] = m_new;
        }
    }
    for (int r = 0; r < ATT_FWD_QPW; ++r) {
        const int t = q0 + warp * ATT_FWD_QPW + r;
        if (t >= q_seq) continue;
        const float inv = l[r] > 0.f ? 1.f / l[r] : 0.f;
        const long long o = qkv_index(b, t, h, q_heads, q_seq, head_dim);
        for (int e = 0; e < MAXE; ++e)
            if (e < E && lane + 32 * e < head_dim) out[o + lane + 32 * e] = from_f32<T>(acc[r][e] * inv);
        if (lane == 0) lse[((long long)b * q_heads + h) * q_seq + t] = l[r] > 0.f ? m[r] + logf(l[r]) : neg_inf();
    }
}

// delta[b, h, t] = sum_d dout * out: the row term of softmax's backward. One warp per row; any grid, ATT_WARPS*32 threads.
template <typename T>
__device__ void attn_bwd_delta_impl(float* delta, const T* dout, const T* out, int batch, int seq, int q_heads, int head_dim)
{
    const long long rows = (long long)batch * seq * q_heads;
    const int lane = threadIdx.x & 31;
    const long long warps_total = (long long)gridDim.x * (blockDim.x >> 5);
    for (long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); row < rows; row += warps_total) {
        const long long base = row * head_dim; // [b, t, h] rows are contiguous
        float acc = 0.f;
        for (int d = lane; d < head_dim; d += 32) acc += to_f32(dout[base + d]) * to_f32(out[base + d]);
        acc = warp_sum(acc);
        if (lane == 0) {
            const int h = (int)(row % q_heads);
            const long long bt = row / q_heads;
            const int t = (int)(bt % seq), b = (int)(bt / seq);
            delta[((long long)b * q_heads + h) * seq + t] = acc;
        }
    }
}

// dq_i = scale * sum_j p_ij (dp_ij - delta_i) k_j with p_ij = exp(scale q_i.k_j - lse_i), dp_ij = dout_i . v_j.
// grid: (ceil(q_seq / ATT_WARPS), q_heads, batch), block: ATT_WARPS * 32; one query row per warp.
// Shared: Ks, Vs [ATT_TILE][MAXD + 1], Qs, Ds [ATT_WARPS][MAXD].
template <int MAXE, typename T>
__device__ void attn_bwd_dq_impl(T* dq, const T* dout, const T* q, const T* k, const T* v, const float* lse,
                                 const float* delta, const int* segment_ids, int q_seq, int k_seq, int q_heads,
                                 int kv_heads, int head_dim, float scale, int window)
{
    constexpr int MAXD = 32 * MAXE;
    ATT_SHARED(smem);
    float* Ks = smem;
    float* Vs = Ks + ATT_TILE * (MAXD + 1);
    float* Qs = Vs + ATT_TILE * (MAXD + 1);
    float* Ds = Qs + ATT_WARPS * MAXD;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int b = blockIdx.z, h = blockIdx.y, hk = h / (q_heads / kv_heads);
    const int q0 = blockIdx.x * ATT_WARPS;
    const int E = (head_dim + 31) >> 5;
    const int t = q0 + warp;
    const int off = k_seq - q_seq, pos = t + off;

    for (int idx = threadIdx.x; idx < ATT_WARPS * head_dim; idx += blockDim.x) {
        const int r = idx / head_dim, d = idx % head_dim, tr = q0 + r;
        const bool in = tr < q_seq;
        Qs[r * MAXD + d] = in ? to_f32(q[qkv_index(b, tr, h, q_heads, q_seq, head_dim) + d]) * scale : 0.f;
        Ds[r * MAXD + d] = in ? to_f32(dout[qkv_index(b, tr, h, q_heads, q_seq, head_dim) + d]) : 0.f;
    }
    const bool row_in = t < q_seq;
    const float lse_t = row_in ? lse[((long long)b * q_heads + h) * q_seq + t] : 0.f;
    const float delta_t = row_in ? delta[((long long)b * q_heads + h) * q_seq + t] : 0.f;
    float acc[MAXE];
    for (int e = 0; e < MAXE; ++e) acc[e] = 0.f;
    const int p_last = min(q_seq - 1, q0 + ATT_WARPS - 1) + off;
    for (int k0 = first_key_tile(q0 + off, window); k0 <= p_last; k0 += ATT_TILE) {
        __syncthreads();
        for (int idx = threadIdx.x; idx < ATT_TILE * head_dim; idx += blockDim.x) {
            const int j = idx / head_dim, d = idx % head_dim, tk = k0 + j;
            const bool in = tk < k_seq;
            Ks[j * (MAXD + 1) + d] = in ? to_f32(k[qkv_index(b, tk, hk, kv_heads, k_seq, head_dim) + d]) : 0.f;
            Vs[j * (MAXD + 1) + d] = in ? to_f32(v[qkv_index(b, tk, hk, kv_heads, k_seq, head_dim) + d]) : 0.f;
        }
        __syncthreads();
        if (!row_in || k0 > pos) continue; // uniform across the warp; no barrier follows before the loop's next one
        if (window > 0 && k0 + ATT_TILE <= pos - window + 1) continue;
        const int kj = k0 + lane;
        const bool valid = visible(segment_ids, b, k_seq, window, pos, kj);
        float ds = 0.f;
        if (valid) {
            float s = 0.f, dp = 0.f;
            for (int d = 0; d < head_dim; ++d) {
                s += Qs[warp * MAXD + d] * Ks[lane * (MAXD + 1) + d];
                dp += Ds[warp * MAXD + d] * Vs[lane * (MAXD + 1) + d];
            }
            ds = expf(s - lse_t) * (dp - delta_t);
        }
        for (int j = 0; j < ATT_TILE; ++j) {
            const float dsj = __shfl_sync(FTL_FULL_MASK, ds, j);
            for (int e = 0; e < MAXE; ++e)
                if (e < E) acc[e] += dsj * Ks[j * (MAXD + 1) + lane + 32 * e];
        }
    }
    if (!row_in) return;
    const long long o = qkv_index(b, t, h, q_heads, q_seq, head_dim);
    for (int e = 0; e < MAXE; ++e)
        if (e < E && lane + 32 * e < head_dim) dq[o + lane + 32 * e] = from_f32<T>(acc[e] * scale);
}

// dv_j = sum_i p_ij dout_i and dk_j = scale * sum_i p_ij (dp_ij - delta_i) q_i, summed over every query head that
// shares kv head hk, in registers: no atomics, so the result is deterministic.
// grid: (ceil(k_seq / ATT_WARPS), kv_heads, batch), block: ATT_WARPS * 32; one key per warp, one query row per lane.
// Shared: Qs, Ds [ATT_TILE][MAXD + 1], Ks, Vs [ATT_WARPS][MAXD].
template <int MAXE, typename T>
__device__ void attn_bwd_dkdv_impl(T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v, const float* lse,
                                   const float* delta, const int* segment_ids, int q_seq, int k_seq, int q_heads,
                                   int kv_heads, int head_dim, float scale, int window)
{
    constexpr int MAXD = 32 * MAXE;
    ATT_SHARED(smem);
    float* Qs = smem;
    float* Ds = Qs + ATT_TILE * (MAXD + 1);
    float* Ks = Ds + ATT_TILE * (MAXD + 1);
    float* Vs = Ks + ATT_WARPS * MAXD;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int b = blockIdx.z, hk = blockIdx.y, group = q_heads / kv_heads;
    const int k0 = blockIdx.x * ATT_WARPS;
    const int E = (head_dim + 31) >> 5;
    const int j = k0 + warp; // this warp's key
    const int off = k_seq - q_seq;
    // Query rows that may see a key of this block: p = i + off in [k0, k0 + ATT_WARPS - 1 + window - 1].
    const int i_first = max(0, k0 - off);
    const int i_end = window > 0 ? min(q_seq, k0 + ATT_WARPS - 1 + window - off) : q_seq;

    for (int idx = threadIdx.x; idx < ATT_WARPS * head_dim; idx += blockDim.x) {
        const int r = idx / head_dim, d = idx % head_dim, tk = k0 + r;
        const bool in = tk < k_seq;
        Ks[r * MAXD + d] = in ? to_f32(k[qkv_index(b, tk, hk, kv_heads, k_seq, head_dim) + d]) : 0.f;
        Vs[r * MAXD + d] = in ? to_f32(v[qkv_index(b, tk, hk, kv_heads, k_seq, head_dim) + d]) : 0.f;
    }
    float dk_acc[MAXE], dv_acc[MAXE];
    for (int e = 0; e < MAXE; ++e) { dk_acc[e] = 0.f; dv_acc[e] = 0.f; }
    const bool key_in = j < k_seq;
    for (int g = 0; g < group; ++g) {
        const int h = hk * group + g;
        const float* lse_h = lse + ((long long)b * q_heads + h) * q_seq;
        const float* delta_h = delta + ((long long)b * q_heads + h) * q_seq;
        for (int t0 = i_first; t0 < i_end; t0 += ATT_TILE) {
            __syncthreads(); // previous tile consumed (and Ks/Vs complete on the first pass)
            for (int idx = threadIdx.x; idx < ATT_TILE * head_dim; idx += blockDim.x) {
                const int r = idx / head_dim, d = idx % head_dim, tq = t0 + r;
                const bool in = tq < q_seq;
                Qs[r * (MAXD + 1) + d] = in ? to_f32(q[qkv_index(b, tq, h, q_heads, q_seq, head_dim) + d]) : 0.f;
                Ds[r * (MAXD + 1) + d] = in ? to_f32(dout[qkv_index(b, tq, h, q_heads, q_seq, head_dim) + d]) : 0.f;
            }
            __syncthreads();
            if (!key_in) continue; // uniform across the warp
            const int i = t0 + lane; // this lane's query row
            const bool valid = i < q_seq && visible(segment_ids, b, k_seq, window, i + off, j);
            float p = 0.f, ds = 0.f;
            if (valid) {
                float s = 0.f, dp = 0.f;
                for (int d = 0; d < head_dim; ++d) {
                    s += Qs[lane * (MAXD + 1) + d] * Ks[warp * MAXD + d];
                    dp += Ds[lane * (MAXD + 1) + d] * Vs[warp * MAXD + d];
                }
                p = expf(s * scale - lse_h[i]);
                ds = p * (dp - delta_h[i]);
            }
            for (int r = 0; r < ATT_TILE; ++r) {
                const float pr = __shfl_sync(FTL_FULL_MASK, p, r);
                const float dsr = __shfl_sync(FTL_FULL_MASK, ds, r);
                for (int e = 0; e < MAXE; ++e) {
                    if (e < E) {
                        dv_acc[e] += pr * Ds[r * (MAXD + 1) + lane + 32 * e];
                        dk_acc[e] += dsr * Qs[r * (MAXD + 1) + lane + 32 * e];
                    }
                }
            }
        }
    }
    if (!key_in) return;
    const long long o = qkv_index(b, j, hk, kv_heads, k_seq, head_dim);
    for (int e = 0; e < MAXE; ++e) {
        if (e < E && lane + 32 * e < head_dim) {
            dk[o + lane + 32 * e] = from_f32<T>(dk_acc[e] * scale);
            dv[o + lane + 32 * e] = from_f32<T>(dv_acc[e]);
        }
    }
}

// The tiled kernels for one head-dim capacity: SUFFIX "" (head_dim <= 128) or _d256 (<= 256).
#define FTL_ATTENTION_TILED(NAME, T, SUFFIX, MAXE)                                                                     \
    extern "C" __global__ void __launch_bounds__(ATT_WARPS * 32) attn_fwd##SUFFIX##_##NAME(                            \
        T* out, float* lse, const T* q, const T* k, const T* v, const int* segment_ids, int q_seq, int k_seq,          \
        int q_heads, int kv_heads, int head_dim, float scale, int window)                                              \
    {                                                                                                                  \
        attn_fwd_impl<MAXE, T>(out, lse, q, k, v, segment_ids, q_seq, k_seq, q_heads, kv_heads, head_dim, scale,       \
                               window);                                                                                \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(ATT_WARPS * 32) attn_bwd_dq##SUFFIX##_##NAME(                         \
        T* dq, const T* dout, const T* q, const T* k, const T* v, const float* lse, const float* delta,                \
        const int* segment_ids, int q_seq, int k_seq, int q_heads, int kv_heads, int head_dim, float scale,            \
        int window)                                                                                                    \
    {                                                                                                                  \
        attn_bwd_dq_impl<MAXE, T>(dq, dout, q, k, v, lse, delta, segment_ids, q_seq, k_seq, q_heads, kv_heads,         \
                                  head_dim, scale, window);                                                            \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(ATT_WARPS * 32) attn_bwd_dkdv##SUFFIX##_##NAME(                       \
        T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v, const float* lse, const float* delta,         \
        const int* segment_ids, int q_seq, int k_seq, int q_heads, int kv_heads, int head_dim, float scale,            \
        int window)                                                                                                    \
    {                                                                                                                  \
        attn_bwd_dkdv_impl<MAXE, T>(dk, dv, dout, q, k, v, lse, delta, segment_ids, q_seq, k_seq, q_heads, kv_heads,   \
                                    head_dim, scale, window);                                                          \
    }

#define FTL_ATTENTION(NAME, T)                                                                                         \
    FTL_ATTENTION_TILED(NAME, T, , 4)                                                                                  \
    FTL_ATTENTION_TILED(NAME, T, _d256, 8)                                                                             \
    extern "C" __global__ void attn_bwd_delta_##NAME(float* delta, const T* dout, const T* out, int batch, int seq,     \
                                                     int q_heads, int head_dim)                                        \
    { attn_bwd_delta_impl<T>(delta, dout, out, batch, seq, q_heads, head_dim); }

FTL_FOR_FLOAT_TYPES(FTL_ATTENTION)
