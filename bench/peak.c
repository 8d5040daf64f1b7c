/* Measures this CPU's fp32 peak on one core: twelve independent chains of fused
 * multiply-adds (enough to hide the FMA latency), with 256-bit (AVX2) and, where the CPU
 * has them, 512-bit (AVX-512) vectors. Each FMA counts two FLOPs per lane.
 *   cc -O2 -mavx2 -mfma -mavx512f bench/peak.c -o /tmp/peak && /tmp/peak */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double seconds_since(struct timespec start) {
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    return (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) * 1e-9;
}

/* One run of `iterations` rounds of twelve FMAs on vectors of type V with `lanes` floats. */
#define PEAK(name, V, set1, fmadd, lanes)                                                     \
    static double name(long iterations) {                                                     \
        V a0 = set1(0.f), a1 = set1(1.f), a2 = set1(2.f), a3 = set1(3.f), a4 = set1(4.f),      \
          a5 = set1(5.f), a6 = set1(6.f), a7 = set1(7.f), a8 = set1(8.f), a9 = set1(9.f),      \
          a10 = set1(10.f), a11 = set1(11.f);                                                  \
        const V a = set1(0.999999f), b = set1(1e-7f);                                          \
        struct timespec start;                                                                 \
        clock_gettime(CLOCK_MONOTONIC, &start);                                                \
        for (long n = 0; n < iterations; n++) {                                                \
            a0 = fmadd(a0, a, b); a1 = fmadd(a1, a, b); a2 = fmadd(a2, a, b);                  \
            a3 = fmadd(a3, a, b); a4 = fmadd(a4, a, b); a5 = fmadd(a5, a, b);                  \
            a6 = fmadd(a6, a, b); a7 = fmadd(a7, a, b); a8 = fmadd(a8, a, b);                  \
            a9 = fmadd(a9, a, b); a10 = fmadd(a10, a, b); a11 = fmadd(a11, a, b);              \
            __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5)); \
            __asm__ volatile("" : "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11)); \
        }                                                                                      \
        double s = seconds_since(start);                                                       \
        return iterations * 12.0 * 2.0 * (lanes) / s / 1e9;                                   \
    }

PEAK(peak256, __m256, _mm256_set1_ps, _mm256_fmadd_ps, 8)
PEAK(peak512, __m512, _mm512_set1_ps, _mm512_fmadd_ps, 16)

int main(void) {
    const long iterations = 200000000;
    printf("one-core fp32 peak, 256-bit FMAs: %.1f GFLOP/s\n", peak256(iterations));
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        printf("one-core fp32 peak, 512-bit FMAs: %.1f GFLOP/s\n", peak512(iterations));
    else
        printf("no AVX-512 on this CPU\n");
    return 0;
}
