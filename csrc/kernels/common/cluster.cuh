// Thread block clusters (sm_90), the split-k reductions of the wgmma and
// decode families: a block's rank in its cluster, a barrier over every
// thread of the cluster (release: this thread's shared-memory writes before
// it are seen by the peers after their wait; acquire: the peers' writes
// before their arrive are seen here), the address of the same shared-memory
// byte in block `rank`, and reads through such an address (distributed
// shared memory).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace marlin::ptx {

__device__ __forceinline__ uint32_t cluster_rank() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return r;
}
__device__ __forceinline__ void cluster_sync() {
  asm volatile(
      "barrier.cluster.arrive.release.aligned;\n"
      "barrier.cluster.wait.acquire.aligned;\n" ::
          : "memory");
}
__device__ __forceinline__ uint32_t cluster_address(uint32_t smem_address, uint32_t rank) {
  uint32_t out;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(out) : "r"(smem_address), "r"(rank));
  return out;
}
__device__ __forceinline__ float4 load_cluster_f4(uint32_t cluster_smem_address) {
  float4 v;
  asm volatile("ld.shared::cluster.v4.f32 {%0, %1, %2, %3}, [%4];\n"
               : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w)
               : "r"(cluster_smem_address)
               : "memory");
  return v;
}
__device__ __forceinline__ float load_cluster_f32(uint32_t cluster_smem_address) {
  float v;
  asm volatile("ld.shared::cluster.f32 %0, [%1];\n" : "=f"(v) : "r"(cluster_smem_address) : "memory");
  return v;
}

}  // namespace marlin::ptx
