/*
 * STREAM-style copy / scale / add / triad in C, for `npm run bench -- probes`.
 * After J. D. McCalpin's STREAM (https://www.cs.virginia.edu/stream/): arrays of
 * STREAM_TYPE (float here, to match gradlab's float32 tensors), initialised a = 1,
 * b = 2, c = 0, each kernel timed NTIMES times, the first repetition dropped, and
 * the best time reported with the bytes STREAM counts (copy and scale 2 arrays, add
 * and triad 3). Unlike STREAM it prints JSON. Built at bench time with
 * `gcc -O3 -march=native` (one thread; with -fopenmp the loops are shared by
 * OMP_NUM_THREADS threads).
 *
 * Usage: stream <elements per array> <repetitions>
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define STREAM_TYPE float

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s <elements per array> <repetitions>\n", argv[0]);
    return 2;
  }
  long n = atol(argv[1]);
  int ntimes = atoi(argv[2]);
  if (n < 1 || ntimes < 2) {
    fprintf(stderr, "stream: need elements >= 1 and repetitions >= 2\n");
    return 2;
  }
  STREAM_TYPE *a = aligned_alloc(64, ((n * sizeof(STREAM_TYPE) + 63) / 64) * 64);
  STREAM_TYPE *b = aligned_alloc(64, ((n * sizeof(STREAM_TYPE) + 63) / 64) * 64);
  STREAM_TYPE *c = aligned_alloc(64, ((n * sizeof(STREAM_TYPE) + 63) / 64) * 64);
  if (!a || !b || !c) {
    fprintf(stderr, "stream: cannot allocate 3 arrays of %ld elements\n", n);
    return 1;
  }
  const STREAM_TYPE scalar = 3.0f;
  long j;
#pragma omp parallel for
  for (j = 0; j < n; j++) {
    a[j] = 1.0f;
    b[j] = 2.0f;
    c[j] = 0.0f;
  }
  double best[4] = {1e30, 1e30, 1e30, 1e30};
  for (int k = 0; k < ntimes; k++) {
    double t[4];
    t[0] = now();
#pragma omp parallel for
    for (j = 0; j < n; j++) c[j] = a[j];
    t[0] = now() - t[0];
    t[1] = now();
#pragma omp parallel for
    for (j = 0; j < n; j++) b[j] = scalar * c[j];
    t[1] = now() - t[1];
    t[2] = now();
#pragma omp parallel for
    for (j = 0; j < n; j++) c[j] = a[j] + b[j];
    t[2] = now() - t[2];
    t[3] = now();
#pragma omp parallel for
    for (j = 0; j < n; j++) a[j] = b[j] + scalar * c[j];
    t[3] = now() - t[3];
    if (k > 0)
      for (int i = 0; i < 4; i++)
        if (t[i] < best[i]) best[i] = t[i];
  }
  /* STREAM's validation: every element follows the same recurrence. */
  STREAM_TYPE aj = 1.0f, bj = 2.0f, cj = 0.0f;
  for (int k = 0; k < ntimes; k++) {
    cj = aj;
    bj = scalar * cj;
    cj = aj + bj;
    aj = bj + scalar * cj;
  }
  int ok = a[n / 2] == aj && b[n / 2] == bj && c[n / 2] == cj;
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  double bytes = (double)n * sizeof(STREAM_TYPE);
  printf("{\"elements\":%ld,\"bytes\":%.0f,\"threads\":%d,\"valid\":%s,"
         "\"copy\":%.6e,\"scale\":%.6e,\"add\":%.6e,\"triad\":%.6e,"
         "\"gbps\":{\"copy\":%.4f,\"scale\":%.4f,\"add\":%.4f,\"triad\":%.4f}}\n",
         n, bytes, threads, ok ? "true" : "false", best[0], best[1], best[2], best[3],
         2 * bytes / best[0] / 1e9, 2 * bytes / best[1] / 1e9, 3 * bytes / best[2] / 1e9, 3 * bytes / best[3] / 1e9);
  free(a);
  free(b);
  free(c);
  return ok ? 0 : 1;
}
