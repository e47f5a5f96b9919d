/* C port of firmware/fft.py RealFFT.run (same integer algorithm, bit-identical output) plus a timing driver.
 * Why: the baseline for "viper FFT within 3x of the same algorithm in C (-O2, 32-bit)"; tables come from Python. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STAGE_LIMIT 32768 /* data enter a stage below this */
#define SPLIT_LIMIT 8192  /* data enter the split below this */

static int bound_shift(int32_t bound, int32_t limit) {
    int sh = 0;
    while (bound >= limit) {
        bound >>= 1;
        sh++;
    }
    return sh;
}

static void shift_all(int32_t *d, int n, int sh) {
    int32_t r = (int32_t)1 << (sh - 1);
    for (int i = 0; i < n; i++) d[i] = (d[i] + r) >> sh;
}

static int32_t or_bound(const int32_t *v, int start, int stop) {
    int32_t b = 0;
    for (int i = start; i < stop; i++) b |= v[i] ^ (v[i] >> 31);
    return b;
}

static void split(int32_t *d, int m, const int16_t *sp) {
    for (int k = 1; k <= (m >> 1); k++) {
        int a = k << 1, b = (m - k) << 1;
        int32_t ar = d[a], ai = d[a + 1], br = d[b], bi = d[b + 1];
        int32_t er = (ar + br) * 16384, ei = (ai - bi) * 16384; /* == << 14, without signed-shift UB */
        int32_t dr = ar - br, di = ai + bi;
        int32_t c = sp[a], s = sp[a + 1];
        int32_t p = c * di - s * dr, q = c * dr + s * di;
        d[a] = (er + p + 16384) >> 15;
        d[a + 1] = (ei - q + 16384) >> 15;
        if (b != a) {
            d[b] = (er - p + 16384) >> 15;
            d[b + 1] = (16384 - ei - q) >> 15;
        }
    }
    d[0] = 0;
    d[1] = 0;
}

/* In place on d[0:n]; bound is an OR-bound of |d|. Returns the block exponent (right shifts applied). */
static int fft_run(int32_t *d, int n, const int16_t *tw, const int16_t *sp, const uint16_t *sw, int nsw,
                   int32_t bound) {
    int m = n >> 1, shifts = 0;
    for (int t = 0; t < nsw; t += 2) {
        int a = sw[t] << 1, b = sw[t + 1] << 1;
        int32_t x = d[a];
        d[a] = d[b];
        d[b] = x;
        x = d[a + 1];
        d[a + 1] = d[b + 1];
        d[b + 1] = x;
    }
    int step = m >> 1;
    for (int size = 2; size <= m; size <<= 1, step >>= 1) {
        int sh = bound_shift(bound, STAGE_LIMIT);
        if (sh) {
            shift_all(d, n, sh);
            shifts += sh;
        }
        bound = 0;
        int half = size >> 1, span = size << 1;
        for (int j = 0; j < half; j++) {
            int32_t wr = tw[2 * j * step], wi = tw[2 * j * step + 1];
            for (int a = j << 1; a < n; a += span) {
                int b = a + size;
                int32_t br = d[b], bi = d[b + 1];
                int32_t tr = (br * wr - bi * wi + 8192) >> 14;
                int32_t ti = (br * wi + bi * wr + 8192) >> 14;
                int32_t ar = d[a], ai = d[a + 1], x;
                x = ar + tr; d[a] = x; bound |= x ^ (x >> 31);
                x = ai + ti; d[a + 1] = x; bound |= x ^ (x >> 31);
                x = ar - tr; d[b] = x; bound |= x ^ (x >> 31);
                x = ai - ti; d[b + 1] = x; bound |= x ^ (x >> 31);
            }
        }
    }
    int sh = bound_shift(bound, SPLIT_LIMIT);
    if (sh) {
        shift_all(d, n, sh);
        shifts += sh;
    }
    split(d, m, sp);
    return shifts;
}

static void *read_exact(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p || fread(p, 1, bytes, stdin) != bytes) {
        fprintf(stderr, "fft: short input\n");
        exit(2);
    }
    return p;
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* stdin (native little-endian): int32 n, nswaps, reps; int16 tw[n/2]; int16 split_tw[n/2+2];
 * uint16 swaps[nswaps]; int32 frame[n]. stdout: "shifts= checksum= ns_per_fft= ns_refill= reps=" then the data. */
int main(void) {
    int32_t *hdr = read_exact(3 * sizeof(int32_t));
    int n = hdr[0], nsw = hdr[1], reps = hdr[2], m = n >> 1;
    int16_t *tw = read_exact(m * sizeof(int16_t));
    int16_t *sp = read_exact((m + 2) * sizeof(int16_t));
    uint16_t *sw = read_exact(nsw * sizeof(uint16_t));
    int32_t *frame = read_exact(n * sizeof(int32_t));
    int32_t *d = malloc(n * sizeof(int32_t));
    volatile int32_t sink = 0;
    int shifts = 0;
    /* timed in 100 short batches, best batch kept (robust to a busy machine); the refill (copy + or_bound)
     * is timed alone and subtracted so ns_per_fft is the transform itself */
    int batch = reps / 100 > 0 ? reps / 100 : 1;
    double best_fill = 1e30, best_all = 1e30;
    for (int b = 0; b < 100; b++) {
        double t0 = now_ns();
        for (int r = 0; r < batch; r++) {
            memcpy(d, frame, n * sizeof(int32_t));
            d[r & (n - 1)] ^= sink & 1; /* keep the copy from being hoisted */
            sink += or_bound(d, 0, n);
        }
        double t1 = now_ns();
        for (int r = 0; r < batch; r++) {
            memcpy(d, frame, n * sizeof(int32_t));
            shifts = fft_run(d, n, tw, sp, sw, nsw, or_bound(d, 0, n));
            sink += d[r & (n - 1)];
        }
        double t2 = now_ns();
        if ((t1 - t0) / batch < best_fill) best_fill = (t1 - t0) / batch;
        if ((t2 - t1) / batch < best_all) best_all = (t2 - t1) / batch;
    }
    /* the reported output: one clean transform of the frame */
    memcpy(d, frame, n * sizeof(int32_t));
    shifts = fft_run(d, n, tw, sp, sw, nsw, or_bound(d, 0, n));
    uint32_t sum = 0;
    for (int i = 0; i < n; i++) sum = sum * 31u + (uint32_t)d[i];
    printf("shifts=%d checksum=%u ns_per_fft=%.1f ns_refill=%.1f reps=%d\n", shifts, (unsigned)sum,
           best_all - best_fill, best_fill, batch * 100);
    for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)d[i]);
    printf("\n");
    return 0;
}
