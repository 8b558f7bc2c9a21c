// The launcher for cuda_host_emulation.h: ftl_emu_launch runs a grid, block by block, calling `thunk` (which calls the
// kernel with its arguments) on blockDim real threads.
#include <barrier>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>
#include "cuda_host_emulation.h"

thread_local ftl_dim3 threadIdx;
thread_local ftl_dim3 blockIdx;
thread_local ftl_dim3 blockDim;
thread_local ftl_dim3 gridDim;

namespace {
struct Warp {
    explicit Warp() : barrier(32) {}
    std::barrier<> barrier;
    alignas(8) unsigned char slots[32][8];
};
struct Block {
    explicit Block(int threads) : barrier(threads), warps(threads / 32) {}
    std::barrier<> barrier;
    std::vector<Warp> warps;
};
thread_local Block* current_block;
}

void ftl_emu_syncthreads() { current_block->barrier.arrive_and_wait(); }

void ftl_emu_warp_exchange(const void* mine, void* out, int src_lane, int bytes)
{
    const int lane = (int)(threadIdx.x & 31);
    Warp& warp = current_block->warps[threadIdx.x >> 5];
    std::memcpy(warp.slots[lane], mine, (size_t)bytes);
    warp.barrier.arrive_and_wait();
    std::memcpy(out, warp.slots[src_lane], (size_t)bytes);
    warp.barrier.arrive_and_wait(); // nobody overwrites a slot before every lane has read
}

extern "C" int ftl_emu_launch(void (*thunk)(), unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx)
{
    if (bx == 0 || bx % 32 != 0 || bx > 1024) return 1; // one-dimensional blocks of whole warps, as the kernels use
    // One thread per CUDA thread of a block, reused for every block: all of them finish a block before any starts the
    // next, so blocks still run one at a time (and __shared__ statics belong to one block at a time).
    Block block((int)bx);
    std::barrier<> between_blocks((std::ptrdiff_t)bx);
    std::vector<std::thread> threads;
    threads.reserve(bx);
    for (unsigned int t = 0; t < bx; ++t)
        threads.emplace_back([&, t] {
            current_block = &block;
            threadIdx = {t, 0, 0};
            blockDim = {bx, 1, 1};
            gridDim = {gx, gy, gz};
            for (unsigned int z = 0; z < gz; ++z)
                for (unsigned int y = 0; y < gy; ++y)
                    for (unsigned int x = 0; x < gx; ++x) {
                        blockIdx = {x, y, z};
                        thunk();
                        between_blocks.arrive_and_wait();
                    }
        });
    for (auto& th : threads) th.join();
    return 0;
}
