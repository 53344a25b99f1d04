/* Softmax attention within each graph of a batch of small graphs, forward and backward.
 *
 * Part of graphformers (graphformers/attention/native.py builds and loads this file; the
 * pure-PyTorch path in graphformers/attention/packed.py computes the same function).
 *
 * Layout: the nodes of graph g are rows ptr[g] .. ptr[g+1]-1; qkv is node-major
 * [N, 3, H, D] float32 (queries, keys, values of every head), out [N, H, D].
 * For every graph g and head h (n nodes):
 *     S = Q K^T / sqrt(D),  A = softmax(S) row-wise,  O = (A o keep) V
 * A is stored for the backward at weights + woff[g] + h * n * n (n x n, row-major);
 * keep (optional, same layout) is the dropout multiplier (0 or 1/(1-p)).
 * Backward, with G = dL/dO and delta_i = sum_d G_id O_id:
 *     dV = (A o keep)^T G,  dS = A o (G V^T o keep - delta) / sqrt(D),
 *     dQ = dS K,  dK = dS^T Q.
 * No padding reaches memory outside one graph's rows; per graph and head the rows
 * are copied into small aligned scratch buffers (width padded to 16 floats) and all
 * products are 16-wide vector FMAs (GCC/Clang vector extensions), four rows at a
 * time. exp is exp2 on scores scaled by log2(e), by a degree-6 polynomial on the
 * rounded-off fraction (relative error about 2e-7). Graphs are shared among
 * OpenMP threads (torch's own runtime: native.py links against it).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__GNUC__)
#error "needs GCC or Clang vector extensions"
#endif

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));
#define W 16

static inline v16 splat(float x) { return (v16){x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x}; }
static inline v16 vsel(vi16 m, v16 a, v16 b) { return (v16)((m & (vi16)a) | (~m & (vi16)b)); }
/* lane l + k (mod 16) of x in lane l (__builtin_shufflevector: Clang, GCC >= 12) */
#define ROT_LANES(k) (k) % 16, (k + 1) % 16, (k + 2) % 16, (k + 3) % 16, (k + 4) % 16, (k + 5) % 16, \
    (k + 6) % 16, (k + 7) % 16, (k + 8) % 16, (k + 9) % 16, (k + 10) % 16, (k + 11) % 16, (k + 12) % 16, \
    (k + 13) % 16, (k + 14) % 16, (k + 15) % 16
#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define ROT(x, k) __builtin_shufflevector(x, x, ROT_LANES(k))
#endif
#endif
#ifndef ROT
#define ROT(x, k) __builtin_shuffle(x, (vi16){ROT_LANES(k)})
#endif
static inline float hsum(v16 x) {
    x += ROT(x, 8); x += ROT(x, 4); x += ROT(x, 2); x += ROT(x, 1);
    return x[0];
}
static inline float hmax(v16 x) {  /* a NaN score makes its row NaN either way */
    v16 y;
    y = ROT(x, 8); x = vsel(y > x, y, x);
    y = ROT(x, 4); x = vsel(y > x, y, x);
    y = ROT(x, 2); x = vsel(y > x, y, x);
    y = ROT(x, 1); x = vsel(y > x, y, x);
    return x[0];
}

static inline v16 vexp2(v16 x) {  /* 2^x for x <= 0; NaN stays NaN; relative error ~2e-7 */
    const v16 lo = splat(-126.0f);
    x = vsel(x < lo, lo, x);
    const v16 magic = splat(12582912.0f);
    v16 r = (x + magic) - magic;
    v16 f = x - r;
    v16 p = splat(1.5469732170458883e-4f);
    p = p * f + 1.3400432653725147e-3f;
    p = p * f + 9.61802527308464e-3f;
    p = p * f + 5.550327152013779e-2f;
    p = p * f + 0.24022650718688965f;
    p = p * f + 0.6931471824645996f;
    p = p * f + 1.0f;
    vi16 e = (__builtin_convertvector(r, vi16) + 127) << 23;
    return p * (v16)e;
}

static inline void load_rows(v16 *dst, const float *src, int64_t n, int64_t stride, int64_t D, int64_t Dv, float scale) {
    if (D == Dv * W) {  /* whole vectors (D = 16, 32, ...) */
        for (int64_t i = 0; i < n; ++i)
            for (int64_t c = 0; c < Dv; ++c) {
                v16 x;
                memcpy(&x, src + i * stride + c * W, sizeof(v16));
                dst[i * Dv + c] = x * scale;
            }
        return;
    }
    for (int64_t i = 0; i < n; ++i) {
        float *d = (float *)(dst + i * Dv);
        for (int64_t t = 0; t < D; ++t) d[t] = src[i * stride + t] * scale;
        for (int64_t t = D; t < Dv * W; ++t) d[t] = 0.0f;
    }
}
/* dst[0:n] = src[0:n] in whole vectors and a scalar tail (no library call per row) */
static inline void copy_floats(float *dst, const float *src, int64_t n) {
    int64_t j = 0;
    for (; j + W <= n; j += W) memcpy(dst + j, src + j, sizeof(v16));
    for (; j < n; ++j) dst[j] = src[j];
}
static inline void store_rows(float *dst, const v16 *src, int64_t n, int64_t stride, int64_t D, int64_t Dv) {
    for (int64_t i = 0; i < n; ++i) copy_floats(dst + i * stride, (const float *)(src + i * Dv), D);
}
/* xt[d * npad + j] = x[j][d] (zero for n <= j < npad) */
static inline void transpose(float *xt, const v16 *x, int64_t n, int64_t npad, int64_t D, int64_t Dv) {
    for (int64_t d = 0; d < D; ++d) {
        for (int64_t j = 0; j < n; ++j) xt[d * npad + j] = ((const float *)(x + j * Dv))[d];
        for (int64_t j = n; j < npad; ++j) xt[d * npad + j] = 0.0f;
    }
}
/* S[i][.] (row stride npad floats) = sum_d X[i][d] * Yt[d][.], i < n, nb blocks of W columns */
static void rows_times_t(float *S, const v16 *X, const float *Yt, int64_t n, int64_t nb, int64_t npad, int64_t D, int64_t Dv) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float *x0 = (const float *)(X + i * Dv), *x1 = x0 + Dv * W, *x2 = x1 + Dv * W, *x3 = x2 + Dv * W;
        for (int64_t b = 0; b < nb; ++b) {
            v16 a0 = splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
            for (int64_t d = 0; d < D; ++d) {
                v16 col; memcpy(&col, Yt + d * npad + b * W, sizeof(v16));
                a0 += x0[d] * col; a1 += x1[d] * col; a2 += x2[d] * col; a3 += x3[d] * col;
            }
            memcpy(S + (i + 0) * npad + b * W, &a0, sizeof(v16));
            memcpy(S + (i + 1) * npad + b * W, &a1, sizeof(v16));
            memcpy(S + (i + 2) * npad + b * W, &a2, sizeof(v16));
            memcpy(S + (i + 3) * npad + b * W, &a3, sizeof(v16));
        }
    }
    for (; i < n; ++i) {
        const float *x0 = (const float *)(X + i * Dv);
        for (int64_t b = 0; b < nb; ++b) {
            v16 a0 = splat(0.0f);
            for (int64_t d = 0; d < D; ++d) { v16 col; memcpy(&col, Yt + d * npad + b * W, sizeof(v16)); a0 += x0[d] * col; }
            memcpy(S + i * npad + b * W, &a0, sizeof(v16));
        }
    }
}
/* Out[r] = scale * sum_k A[r * sa + k * sb] * X[k], r < rows, k < inner; rows of Dv vectors */
static void scalars_times_rows(v16 *Out, const float *A, int64_t sa, int64_t sb, int64_t rows, int64_t inner,
                               const v16 *X, int64_t Dv, float scale) {
    for (int64_t c = 0; c < Dv; ++c) {
        int64_t r = 0;
        for (; r + 4 <= rows; r += 4) {
            v16 a0 = splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
            const float *A0 = A + r * sa;
            for (int64_t k = 0; k < inner; ++k) {
                const v16 x = X[k * Dv + c];
                const float *ak = A0 + k * sb;
                a0 += ak[0] * x; a1 += ak[sa] * x; a2 += ak[2 * sa] * x; a3 += ak[3 * sa] * x;
            }
            Out[(r + 0) * Dv + c] = a0 * scale; Out[(r + 1) * Dv + c] = a1 * scale;
            Out[(r + 2) * Dv + c] = a2 * scale; Out[(r + 3) * Dv + c] = a3 * scale;
        }
        for (; r < rows; ++r) {
            v16 a0 = splat(0.0f);
            for (int64_t k = 0; k < inner; ++k) a0 += A[r * sa + k * sb] * X[k * Dv + c];
            Out[r * Dv + c] = a0 * scale;
        }
    }
}

typedef struct { v16 *Q, *K, *V, *G, *O, *R; float *T, *S, *S2; int64_t npad; } Scratch;
static int scratch_alloc(Scratch *s, int64_t maxn, int64_t Dv) {
    const int64_t npad = (maxn + W - 1) / W * W;
    const size_t rowset = (size_t)npad * Dv * W, square = (size_t)npad * npad;
    float *m = (float *)aligned_alloc(64, sizeof(float) * (6 * rowset + Dv * W * npad + 2 * square) + 64 * 8);
    if (!m) return 1;
    s->npad = npad;
    s->Q = (v16 *)m; s->K = s->Q + npad * Dv; s->V = s->K + npad * Dv; s->G = s->V + npad * Dv;
    s->O = s->G + npad * Dv; s->R = s->O + npad * Dv;
    s->T = (float *)(s->R + npad * Dv); s->S = s->T + Dv * W * npad; s->S2 = s->S + square;
    return 0;
}

/* What the per-graph functions read and write (see the file comment for the layouts). */
typedef struct {
    const float *qkv, *out, *gout, *keep;
    const int64_t *ptr, *woff;
    int64_t H, D;
    float scale;           /* forward: log2(e) / sqrt(D); backward: 1 / sqrt(D) */
    float *result;         /* forward: out [N, H, D]; backward: dqkv [N, 3, H, D] */
    float *weights;        /* forward: written; backward: read */
} Args;

typedef void (*GraphFn)(const Args *a, Scratch *s, int64_t g);

/* fn for graphs g0 .. g1-1, shared among `threads` OpenMP threads, each with its own scratch */
static int for_each_graph(GraphFn fn, const Args *a, int64_t g0, int64_t g1, int64_t maxn, int threads) {
    const int64_t Dv = (a->D + W - 1) / W;
    int failed = 0;
    #pragma omp parallel num_threads(threads) reduction(|:failed)
    {
        Scratch s;
        const int ok = scratch_alloc(&s, maxn, Dv) == 0;
        failed = !ok;
        /* every thread reaches the work-sharing loop (OpenMP requires it); one without
           scratch takes its graphs but skips them, and the call reports the failure */
        #pragma omp for schedule(dynamic, 4)
        for (int64_t g = g0; g < g1; ++g)
            if (ok) fn(a, &s, g);
        if (ok) free(s.Q);
    }
    return failed;
}

static void forward_graph(const Args *a, Scratch *s, int64_t g) {
    const int64_t H = a->H, D = a->D, rs = 3 * H * D, os = H * D, Dv = (D + W - 1) / W, npad = s->npad;
    const int64_t n = a->ptr[g + 1] - a->ptr[g], base = a->ptr[g], nb = (n + W - 1) / W;
    if (n == 0) return;
    vi16 lane;
    for (int l = 0; l < W; ++l) lane[l] = l;
    const vi16 tail = lane < (int32_t)(n - (nb - 1) * W);  /* real lanes of the last block */
    for (int64_t h = 0; h < H; ++h) {
        const float *q = a->qkv + base * rs + h * D;
        load_rows(s->Q, q, n, rs, D, Dv, a->scale);
        load_rows(s->K, q + H * D, n, rs, D, Dv, 1.0f);
        load_rows(s->V, q + 2 * H * D, n, rs, D, Dv, 1.0f);
        transpose(s->T, s->K, n, npad, D, Dv);
        rows_times_t(s->S, s->Q, s->T, n, nb, npad, D, Dv);  /* scores in base-2 units */
        float *p = a->weights + a->woff[g] + h * n * n;
        const float *kp = a->keep ? a->keep + a->woff[g] + h * n * n : NULL;
        /* softmax in three passes over the rows (max; exp and sum; scale), so that the
           reduction chains of different rows overlap instead of running one after another */
        float *stat = s->S2;  /* row max, then row sum */
        for (int64_t i = 0; i < n; ++i) {
            v16 *sv = (v16 *)(s->S + i * npad);
            sv[nb - 1] = vsel(tail, sv[nb - 1], splat(-__builtin_inff()));
            v16 mv = sv[0];
            for (int64_t b = 1; b < nb; ++b) mv = vsel(sv[b] > mv, sv[b], mv);
            stat[i] = hmax(mv);
        }
        for (int64_t i = 0; i < n; ++i) {
            v16 *sv = (v16 *)(s->S + i * npad);
            const float m = stat[i];
            v16 acc = splat(0.0f);
            for (int64_t b = 0; b < nb; ++b) { sv[b] = vexp2(sv[b] - m); acc += sv[b]; }
            stat[i] = hsum(acc);
        }
        for (int64_t i = 0; i < n; ++i) {
            float *si = s->S + i * npad;
            v16 *sv = (v16 *)si;
            const float inv = 1.0f / stat[i];
            for (int64_t b = 0; b < nb; ++b) sv[b] *= inv;
            memcpy(p + i * n, si, sizeof(float) * n);
            if (kp) for (int64_t j = 0; j < n; ++j) si[j] *= kp[i * n + j];
        }
        scalars_times_rows(s->O, s->S, npad, 1, n, n, s->V, Dv, 1.0f);  /* O = (A o keep) V */
        store_rows(a->result + base * os + h * D, s->O, n, os, D, Dv);
    }
}

static void backward_graph(const Args *a, Scratch *s, int64_t g) {
    const int64_t H = a->H, D = a->D, rs = 3 * H * D, os = H * D, Dv = (D + W - 1) / W, npad = s->npad;
    const int64_t n = a->ptr[g + 1] - a->ptr[g], base = a->ptr[g], nb = (n + W - 1) / W;
    if (n == 0) return;
    for (int64_t h = 0; h < H; ++h) {
        const float *q = a->qkv + base * rs + h * D;
        float *dq = a->result + base * rs + h * D;
        load_rows(s->Q, q, n, rs, D, Dv, 1.0f);
        load_rows(s->K, q + H * D, n, rs, D, Dv, 1.0f);
        load_rows(s->V, q + 2 * H * D, n, rs, D, Dv, 1.0f);
        load_rows(s->G, a->gout + base * os + h * D, n, os, D, Dv, 1.0f);
        load_rows(s->O, a->out + base * os + h * D, n, os, D, Dv, 1.0f);
        transpose(s->T, s->V, n, npad, D, Dv);
        rows_times_t(s->S, s->G, s->T, n, nb, npad, D, Dv);  /* dP = G V^T */
        const float *p = a->weights + a->woff[g] + h * n * n;
        const float *kp = a->keep ? a->keep + a->woff[g] + h * n * n : NULL;
        float *delta = s->T;  /* V^T is no longer needed: delta_i = rowsum(G o O) */
        for (int64_t i = 0; i < n; ++i) {
            v16 acc = splat(0.0f);
            for (int64_t c = 0; c < Dv; ++c) acc += s->G[i * Dv + c] * s->O[i * Dv + c];
            delta[i] = hsum(acc);
        }
        const float *pk = p;  /* A o keep, rows of n */
        if (kp) {
            float *dropped = s->S2;
            for (int64_t i = 0; i < n; ++i) {
                float *dsi = s->S + i * npad;
                const float *pi = p + i * n, *ki = kp + i * n;
                for (int64_t j = 0; j < n; ++j) {
                    dropped[i * n + j] = pi[j] * ki[j];
                    dsi[j] = pi[j] * (dsi[j] * ki[j] - delta[i]);
                }
            }
            pk = dropped;
        } else {
            for (int64_t i = 0; i < n; ++i) {
                float *dsi = s->S + i * npad;
                const float *pi = p + i * n;
                for (int64_t j = 0; j < n; ++j) dsi[j] = pi[j] * (dsi[j] - delta[i]);
            }
        }
        scalars_times_rows(s->R, s->S, npad, 1, n, n, s->K, Dv, a->scale);  /* dQ = dS K */
        store_rows(dq, s->R, n, rs, D, Dv);
        scalars_times_rows(s->R, s->S, 1, npad, n, n, s->Q, Dv, a->scale);  /* dK = dS^T Q */
        store_rows(dq + H * D, s->R, n, rs, D, Dv);
        scalars_times_rows(s->R, pk, 1, n, n, n, s->G, Dv, 1.0f);           /* dV = (A o keep)^T G */
        store_rows(dq + 2 * H * D, s->R, n, rs, D, Dv);
    }
}

/* the layout version native.py checks before calling */
int gf_attention_abi(void) { return 1; }

/* whether this build shares graphs among OpenMP threads (else it runs on the calling thread) */
int gf_attention_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* out, weights <- attention of graphs g0 .. g1-1; 0, or 1 if scratch memory ran out */
int gf_attention_forward(const float *qkv, const int64_t *ptr, const int64_t *woff, int64_t g0, int64_t g1,
                         int64_t H, int64_t D, float scale_log2, const float *keep, float *out, float *weights,
                         int64_t maxn, int threads) {
    const Args a = {qkv, NULL, NULL, keep, ptr, woff, H, D, scale_log2, out, weights};
    return for_each_graph(forward_graph, &a, g0, g1, maxn, threads);
}

/* gqkv <- gradient of graphs g0 .. g1-1 given gout = dL/dout; 0, or 1 if scratch memory ran out */
int gf_attention_backward(const float *qkv, const float *out, const float *gout, const float *weights,
                          const float *keep, const int64_t *ptr, const int64_t *woff, int64_t g0, int64_t g1,
                          int64_t H, int64_t D, float scale, float *gqkv, int64_t maxn, int threads) {
    const Args a = {qkv, out, gout, keep, ptr, woff, H, D, scale, gqkv, (float *)weights};
    return for_each_graph(backward_graph, &a, g0, g1, maxn, threads);
}
