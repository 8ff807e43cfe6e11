// Dequantization in registers, without int->float conversions: packed
// weights become the B fragments of m16n8k16 mma instructions holding q - z.
//
// Fragment. For one 16x16 block of B, lane (g = lane / 4, t = lane % 4) owns
// column g of the first n8 half and column g + 8 of the second, rows 2t, 2t+1
// (register 0 of the fragment) and 2t+8, 2t+9 (register 1).
//
// 4-bit words (one per 16x16 block and lane): nibble i (bits 4i..4i+3) holds
//   i:   0     1      2      3      4       5      6       7
//   row  2t    2t+8   2t     2t+8   2t+1    2t+9   2t+1    2t+9
//   col  g     g      g+8    g+8    g       g      g+8     g+8
// so one word makes both halves' fragments, the second after a shift by 8.
// 8-bit words (two per block and lane, one per n8 half h): byte i holds
//   i:   0     1      2      3
//   row  2t    2t+8   2t+1   2t+9     of column g + 8h.
//
// The trick: OR an integer v < 2^p into the mantissa of a float whose unit in
// the last place is 1 (FP16 1024 = 0x6400, p = 10; BF16 128 = 0x4300, p = 7;
// FP32 2^23 = 0x4B000000, p = 23) and the result is exactly base + v;
// subtracting base + z leaves q - z exactly (every value is a small integer).
// FP16 holds any byte; BF16 only nibbles, so 8-bit BF16 goes through FP32.
//
// Zero points arrive as bytes, two words per lane: byte i % 4 of word i / 4
// is the zero point of column g + 8i of the warp's 64. zero<I>() makes the
// subtrahend for column g + 8I with one byte permute (the zero point next to
// the magic number's high byte); symmetric formats use a constant.
#pragma once

#include <cstdint>

#include "common/act.cuh"
#include "common/ptx.cuh"

namespace marlin {

// B operand of one m16n8k16 mma: two registers of two 16-bit values each.
struct FragB {
  uint32_t r[2];
};

constexpr int kAndOr = (0xf0 & 0xcc) | 0xaa;  // lop3 truth table of (a & b) | c

template <Act A, int BITS>
struct Codec;

// FP16, 4 bits. lo = 1024 + q (nibbles 0, 4); hi = 1024 + 16 q (nibbles 1, 5,
// left in place): q - z = lo - (1024 + z) = hi / 16 - (64 + z).
template <>
struct Codec<Act::kF16, 4> {
  using Traits = ActTraits<Act::kF16>;
  struct Zero {
    uint32_t lo;  // 1024 + z in both halves
    uint32_t hi;  // -(64 + z) in both halves
  };
  static constexpr int kWordsPerBlock = 1;

  static __device__ __forceinline__ Zero symmetric() { return {0x64086408u, 0xd480d480u}; }  // z = 8

  template <int I>
  static __device__ __forceinline__ Zero zero(const uint32_t (&zw)[2]) {
    // Bytes (z, 0x64, z, 0x64): FP16 1024 + z in both halves.
    return from_base(ptx::prmt<0x4040u | ((I % 4) << 8) | (I % 4)>(zw[I / 4], 0x64u));
  }
  // The same for byte `byte` (0-3, known at run time) of one zero-point word.
  static __device__ __forceinline__ Zero zero_of_byte(uint32_t word, uint32_t byte) {
    return from_base(ptx::prmt(word, 0x64u, 0x4040u | (byte << 8) | byte));
  }
  static __device__ __forceinline__ Zero from_base(uint32_t lo) {
    const half2 k960 = Traits::as_pair(0x63806380u);  // 960 - (1024 + z) = -(64 + z)
    return {lo, Traits::as_u32(__hsub2(k960, Traits::as_pair(lo)))};
  }

  // Both halves of block j's fragment from word q (already shifted to the block).
  static __device__ __forceinline__ FragB half_frag(uint32_t q, const Zero& z) {
    const uint32_t lo = ptx::lop3<kAndOr>(q, 0x000f000fu, 0x64006400u);
    const uint32_t hi = ptx::lop3<kAndOr>(q, 0x00f000f0u, 0x64006400u);
    const half2 kOneSixteenth = Traits::as_pair(0x2c002c00u);
    FragB f;
    f.r[0] = Traits::as_u32(__hsub2(Traits::as_pair(lo), Traits::as_pair(z.lo)));
    f.r[1] = Traits::as_u32(__hfma2(Traits::as_pair(hi), kOneSixteenth, Traits::as_pair(z.hi)));
    return f;
  }
};

// BF16, 4 bits: 128 + q from each nibble brought to the bottom by shifts.
template <>
struct Codec<Act::kBF16, 4> {
  using Traits = ActTraits<Act::kBF16>;
  struct Zero {
    uint32_t base;  // 128 + z in both halves
  };
  static constexpr int kWordsPerBlock = 1;

  static __device__ __forceinline__ Zero symmetric() { return {0x43084308u}; }  // 136

  template <int I>
  static __device__ __forceinline__ Zero zero(const uint32_t (&zw)[2]) {
    // Bytes (z, 0x43, z, 0x43): BF16 128 + z in both halves (z < 16 < 128).
    return {ptx::prmt<0x4040u | ((I % 4) << 8) | (I % 4)>(zw[I / 4], 0x43u)};
  }
  // The same for byte `byte` (0-3, known at run time) of one zero-point word.
  static __device__ __forceinline__ Zero zero_of_byte(uint32_t word, uint32_t byte) {
    return {ptx::prmt(word, 0x43u, 0x4040u | (byte << 8) | byte)};
  }

  static __device__ __forceinline__ FragB half_frag(uint32_t q, const Zero& z) {
    const uint32_t lo = ptx::lop3<kAndOr>(q, 0x000f000fu, 0x43004300u);
    const uint32_t hi = ptx::lop3<kAndOr>(q >> 4, 0x000f000fu, 0x43004300u);
    FragB f;
    f.r[0] = Traits::as_u32(__hsub2(Traits::as_pair(lo), Traits::as_pair(z.base)));
    f.r[1] = Traits::as_u32(__hsub2(Traits::as_pair(hi), Traits::as_pair(z.base)));
    return f;
  }
};

// FP16, 8 bits: 1024 + byte for bytes 0, 2 and (after a shift) 1, 3.
template <>
struct Codec<Act::kF16, 8> {
  using Traits = ActTraits<Act::kF16>;
  struct Zero {
    uint32_t base;  // 1024 + z in both halves
  };
  static constexpr int kWordsPerBlock = 2;

  static __device__ __forceinline__ Zero symmetric() { return {0x64806480u}; }  // 1024 + 128

  template <int I>
  static __device__ __forceinline__ Zero zero(const uint32_t (&zw)[2]) {
    // Bytes (z, 0x64, z, 0x64): 0x64 is byte 4 of the pair {0x64 : word}.
    return {ptx::prmt<0x4040u | ((I % 4) << 8) | (I % 4)>(zw[I / 4], 0x64u)};
  }
  // The same for byte `byte` (0-3, known at run time) of one zero-point word.
  static __device__ __forceinline__ Zero zero_of_byte(uint32_t word, uint32_t byte) {
    return {ptx::prmt(word, 0x64u, 0x4040u | (byte << 8) | byte)};
  }

  static __device__ __forceinline__ FragB half_frag(uint32_t w, const Zero& z) {
    const uint32_t lo = ptx::lop3<kAndOr>(w, 0x00ff00ffu, 0x64006400u);
    const uint32_t hi = ptx::lop3<kAndOr>(w >> 8, 0x00ff00ffu, 0x64006400u);
    FragB f;
    f.r[0] = Traits::as_u32(__hsub2(Traits::as_pair(lo), Traits::as_pair(z.base)));
    f.r[1] = Traits::as_u32(__hsub2(Traits::as_pair(hi), Traits::as_pair(z.base)));
    return f;
  }
};

// BF16, 8 bits: a byte does not fit BF16's 7-bit mantissa, so each byte goes
// into an FP32 2^23 + byte, is reduced there and rounded (exactly: |q - z|
// <= 255 needs 8 significant bits) to BF16.
template <>
struct Codec<Act::kBF16, 8> {
  using Traits = ActTraits<Act::kBF16>;
  struct Zero {
    float base;  // 2^23 + z
  };
  static constexpr int kWordsPerBlock = 2;

  static __device__ __forceinline__ Zero symmetric() { return {8388736.0f}; }  // 2^23 + 128

  template <int I>
  static __device__ __forceinline__ Zero zero(const uint32_t (&zw)[2]) {
    // Bytes (z, 0, 0, 0x4B) from the pair {0x4B000000 : word}.
    return {__uint_as_float(ptx::prmt<0x7440u | (I % 4)>(zw[I / 4], 0x4B000000u))};
  }
  // The same for byte `byte` (0-3, known at run time) of one zero-point word.
  static __device__ __forceinline__ Zero zero_of_byte(uint32_t word, uint32_t byte) {
    return {__uint_as_float(ptx::prmt(word, 0x4B000000u, 0x7440u | byte))};
  }

  template <int BYTE>
  static __device__ __forceinline__ float widen(uint32_t w) {
    return __uint_as_float(ptx::prmt<0x7440u | BYTE>(w, 0x4B000000u));
  }
  static __device__ __forceinline__ FragB half_frag(uint32_t w, const Zero& z) {
    FragB f;
    f.r[0] = Traits::as_u32(Traits::from_floats(widen<0>(w) - z.base, widen<2>(w) - z.base));
    f.r[1] = Traits::as_u32(Traits::from_floats(widen<1>(w) - z.base, widen<3>(w) - z.base));
    return f;
  }
};

// Both fragments of 16x16 block j from its packed words `w` (the block's
// word(s)): 4 bits, one word, the second half after a shift by 8; 8 bits,
// one word per half. z0 and z1 are the subtrahends of the two columns.
template <class Codec>
__device__ __forceinline__ void decode_block(const uint32_t* w, const typename Codec::Zero& z0,
                                             const typename Codec::Zero& z1, FragB& b0, FragB& b1) {
  b0 = Codec::half_frag(w[0], z0);
  b1 = Codec::half_frag(Codec::kWordsPerBlock == 1 ? w[0] >> 8 : w[1], z1);
}

// Multiplies both registers of a fragment by one scale pair (symmetric
// grouped formats scale the weights before the mma, once rounded, like the
// reference).
template <Act A>
__device__ __forceinline__ void scale_frag(FragB& f, typename ActTraits<A>::Pair s2) {
  using T = ActTraits<A>;
  f.r[0] = T::as_u32(__hmul2(T::as_pair(f.r[0]), s2));
  f.r[1] = T::as_u32(__hmul2(T::as_pair(f.r[1]), s2));
}

// The same plus a shift pair: (q - 2^(bits-1)) * s + zs, the grouped
// zero-point formats' weights (common/format.h), one fused multiply-add.
template <Act A>
__device__ __forceinline__ void scale_shift_frag(FragB& f, typename ActTraits<A>::Pair s2,
                                                 typename ActTraits<A>::Pair zs2) {
  using T = ActTraits<A>;
  f.r[0] = T::as_u32(__hfma2(T::as_pair(f.r[0]), s2, zs2));
  f.r[1] = T::as_u32(__hfma2(T::as_pair(f.r[1]), s2, zs2));
}

}  // namespace marlin
