/**
 * Plain reference implementations of every compute kernel, written from the math and meant to be
 * obviously correct, not fast. Tests compare the WASM kernels against these on small shapes.
 *
 * Conventions: tensors are row-major Float32Array, ids and targets Int32Array. Sums accumulate in
 * JS numbers (f64); each stored result is rounded once to f32.
 */

const f32 = Math.fround;

/** Round to the nearest integer, ties to the even neighbour. */
function roundHalfToEven(x: number): number {
  const lo = Math.floor(x);
  const frac = x - lo;
  if (frac < 0.5) return lo;
  if (frac > 0.5) return lo + 1;
  return lo % 2 === 0 ? lo : lo + 1;
}

// ---------------------------------------------------------------------------------------------
// Matrix products

/** Y[M,N] = X[M,K]·W[N,K]ᵀ (a linear layer with weight W in [out, in] layout). */
export function matmulXWt(X: Float32Array, W: Float32Array, M: number, N: number, K: number): Float32Array {
  const Y = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += X[m * K + k] * W[n * K + k];
      Y[m * N + n] = acc;
    }
  }
  return Y;
}

/** dX[M,K] = dY[M,N]·W[N,K] (gradient of matmulXWt wrt X). */
export function matmulDyW(dY: Float32Array, W: Float32Array, M: number, N: number, K: number): Float32Array {
  const dX = new Float32Array(M * K);
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < K; k++) {
      let acc = 0;
      for (let n = 0; n < N; n++) acc += dY[m * N + n] * W[n * K + k];
      dX[m * K + k] = acc;
    }
  }
  return dX;
}

/** dW[N,K] = dY[M,N]ᵀ·X[M,K] (gradient of matmulXWt wrt W). */
export function matmulDyTX(dY: Float32Array, X: Float32Array, M: number, N: number, K: number): Float32Array {
  const dW = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      let acc = 0;
      for (let m = 0; m < M; m++) acc += dY[m * N + n] * X[m * K + k];
      dW[n * K + k] = acc;
    }
  }
  return dW;
}

// ---------------------------------------------------------------------------------------------
// Number formats

/** bfloat16 bits → f32: the bf16 bits are the upper half of the f32 bits. */
export function bf16ToF32(u: Uint16Array): Float32Array {
  const bits = new Uint32Array(u.length);
  for (let i = 0; i < u.length; i++) bits[i] = u[i] << 16;
  return new Float32Array(bits.buffer);
}

/** f32 → bfloat16 bits, round to nearest even; NaN becomes a quiet NaN with its sign kept. */
export function f32ToBf16(x: Float32Array): Uint16Array {
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const b = bits[i];
    if ((b & 0x7fffffff) > 0x7f800000) {
      out[i] = ((b >>> 16) & 0x8000) | 0x7fc0;
    } else {
      const lsb = (b >>> 16) & 1;
      out[i] = (b + 0x7fff + lsb) >>> 16;
    }
  }
  return out;
}

/**
 * Symmetric int8 quantization per row of W[rows, cols]: scale[r] = f32(maxabs/127),
 * q = clamp(roundHalfToEven(f32(w/scale)), -127, 127); an all-zero row gets scale 0 and q 0.
 */
export function quantizeRowsInt8(W: Float32Array, rows: number, cols: number): { q: Int8Array; scale: Float32Array } {
  const q = new Int8Array(rows * cols);
  const scale = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let maxAbs = 0;
    for (let c = 0; c < cols; c++) maxAbs = Math.max(maxAbs, Math.abs(W[r * cols + c]));
    if (maxAbs === 0) continue;
    const s = f32(maxAbs / 127);
    scale[r] = s;
    for (let c = 0; c < cols; c++) {
      const v = roundHalfToEven(f32(W[r * cols + c] / s));
      q[r * cols + c] = Math.min(127, Math.max(-127, v));
    }
  }
  return { q, scale };
}

/** W[rows, cols] = f32(q·scale[row]). */
export function dequantInt8(q: Int8Array, scale: Float32Array, rows: number, cols: number): Float32Array {
  const W = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) W[r * cols + c] = q[r * cols + c] * scale[r];
  }
  return W;
}

// ---------------------------------------------------------------------------------------------
// RMSNorm (Hugging Face LlamaRMSNorm)

/** Y[rows,dim] = x·rstd·w with rstd[rows] = f32(1/sqrt(mean_j x² + eps)), as HF computes it in f32. */
export function rmsnormFwd(
  X: Float32Array,
  W: Float32Array,
  rows: number,
  dim: number,
  eps: number,
): { Y: Float32Array; rstd: Float32Array } {
  const Y = new Float32Array(rows * dim);
  const rstd = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += X[r * dim + j] ** 2;
    rstd[r] = 1 / Math.sqrt(ss / dim + eps);
    for (let j = 0; j < dim; j++) Y[r * dim + j] = X[r * dim + j] * rstd[r] * W[j];
  }
  return { Y, rstd };
}

/**
 * Gradients of rmsnormFwd given rstd[rows] from the forward:
 * dX[r,k] = rstd·(dy_k·w_k − x_k·rstd²/dim·Σ_j dy_j·w_j·x_j); dW[dim] = Σ_r dy·x·rstd.
 */
export function rmsnormBwd(
  dY: Float32Array,
  X: Float32Array,
  W: Float32Array,
  rstd: Float32Array,
  rows: number,
  dim: number,
): { dX: Float32Array; dW: Float32Array } {
  const dX = new Float32Array(rows * dim);
  const dWAcc = new Float64Array(dim);
  for (let r = 0; r < rows; r++) {
    const rs = rstd[r];
    let dot = 0;
    for (let j = 0; j < dim; j++) dot += dY[r * dim + j] * W[j] * X[r * dim + j];
    for (let k = 0; k < dim; k++) {
      const i = r * dim + k;
      dX[i] = rs * (dY[i] * W[k] - (X[i] * rs * rs * dot) / dim);
      dWAcc[k] += dY[i] * X[i] * rs;
    }
  }
  return { dX, dW: Float32Array.from(dWAcc) };
}

// ---------------------------------------------------------------------------------------------
// Rotary position embedding (Hugging Face rotate-half layout)

/** cos and sin tables [D/2] for one position, rounded to f32 step by step as HF computes them. */
function ropeCosSin(pos: number, D: number, theta: number): { cos: Float64Array; sin: Float64Array } {
  const half = D / 2;
  const cos = new Float64Array(half);
  const sin = new Float64Array(half);
  for (let i = 0; i < half; i++) {
    const invFreq = f32(1 / f32(Math.pow(theta, f32((2 * i) / D))));
    const angle = f32(pos * invFreq);
    cos[i] = f32(Math.cos(angle));
    sin[i] = f32(Math.sin(angle));
  }
  return { cos, sin };
}

/**
 * Rotate X[B,S,H,D] (position of row s is s + offset), or with `transpose` apply the inverse
 * rotation, which is the exact transpose used by the backward pass.
 */
function ropeApply(
  X: Float32Array,
  B: number,
  S: number,
  H: number,
  D: number,
  theta: number,
  offset: number,
  transpose: boolean,
): Float32Array {
  const half = D / 2;
  const Y = new Float32Array(X.length);
  for (let s = 0; s < S; s++) {
    const { cos, sin } = ropeCosSin(s + offset, D, theta);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const base = ((b * S + s) * H + h) * D;
        for (let i = 0; i < half; i++) {
          const x1 = X[base + i];
          const x2 = X[base + half + i];
          const sn = transpose ? -sin[i] : sin[i];
          Y[base + i] = x1 * cos[i] - x2 * sn;
          Y[base + half + i] = x2 * cos[i] + x1 * sn;
        }
      }
    }
  }
  return Y;
}

/** Y[B,S,H,D]: y1 = x1·cos − x2·sin, y2 = x2·cos + x1·sin over the two halves of each head. */
export function ropeFwd(
  X: Float32Array,
  B: number,
  S: number,
  H: number,
  D: number,
  theta: number,
  offset: number,
): Float32Array {
  return ropeApply(X, B, S, H, D, theta, offset, false);
}

/** dX[B,S,H,D]: dx1 = dy1·cos + dy2·sin, dx2 = dy2·cos − dy1·sin. */
export function ropeBwd(
  dY: Float32Array,
  B: number,
  S: number,
  H: number,
  D: number,
  theta: number,
  offset: number,
): Float32Array {
  return ropeApply(dY, B, S, H, D, theta, offset, true);
}

// ---------------------------------------------------------------------------------------------
// SwiGLU

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** H[n] = silu(g)·u with silu(g) = g/(1+exp(−g)). */
export function swigluFwd(G: Float32Array, U: Float32Array): Float32Array {
  const H = new Float32Array(G.length);
  for (let i = 0; i < G.length; i++) H[i] = G[i] * sigmoid(G[i]) * U[i];
  return H;
}

/** dG = dH·u·σ(g)·(1 + g·(1−σ(g))), dU = dH·silu(g). */
export function swigluBwd(dH: Float32Array, G: Float32Array, U: Float32Array): { dG: Float32Array; dU: Float32Array } {
  const dG = new Float32Array(G.length);
  const dU = new Float32Array(G.length);
  for (let i = 0; i < G.length; i++) {
    const sg = sigmoid(G[i]);
    dG[i] = dH[i] * U[i] * sg * (1 + G[i] * (1 - sg));
    dU[i] = dH[i] * G[i] * sg;
  }
  return { dG, dU };
}

// ---------------------------------------------------------------------------------------------
// Causal self-attention with grouped-query heads

/**
 * Softmax probabilities P[S,S] (zero above the diagonal) and lse[S] of one (batch, head):
 * score(i,j) = q_i·k_j/sqrt(D) for j ≤ i.
 */
function attentionProbs(
  Q: Float32Array,
  K: Float32Array,
  b: number,
  h: number,
  S: number,
  H: number,
  KVH: number,
  D: number,
): { P: Float64Array; lse: Float64Array } {
  const kvh = Math.floor(h / (H / KVH));
  const scale = 1 / Math.sqrt(D);
  const P = new Float64Array(S * S);
  const lse = new Float64Array(S);
  for (let i = 0; i < S; i++) {
    const qi = ((b * S + i) * H + h) * D;
    let max = -Infinity;
    for (let j = 0; j <= i; j++) {
      const kj = ((b * S + j) * KVH + kvh) * D;
      let dot = 0;
      for (let d = 0; d < D; d++) dot += Q[qi + d] * K[kj + d];
      P[i * S + j] = scale * dot;
      max = Math.max(max, scale * dot);
    }
    let sum = 0;
    for (let j = 0; j <= i; j++) sum += Math.exp(P[i * S + j] - max);
    lse[i] = max + Math.log(sum);
    for (let j = 0; j <= i; j++) P[i * S + j] = Math.exp(P[i * S + j] - lse[i]);
  }
  return { P, lse };
}

/**
 * O[B,S,H,D] = softmax(causal scores)·V and lse[B,H,S] = log Σ_j exp(score(i,j)).
 * Q is [B,S,H,D]; K and V are [B,S,KVH,D]; query head h reads kv head floor(h/(H/KVH)).
 */
export function attentionFwd(
  Q: Float32Array,
  K: Float32Array,
  V: Float32Array,
  B: number,
  S: number,
  H: number,
  KVH: number,
  D: number,
): { O: Float32Array; lse: Float32Array } {
  const O = new Float32Array(B * S * H * D);
  const lseOut = new Float32Array(B * H * S);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / (H / KVH));
      const { P, lse } = attentionProbs(Q, K, b, h, S, H, KVH, D);
      for (let i = 0; i < S; i++) {
        lseOut[(b * H + h) * S + i] = lse[i];
        const oi = ((b * S + i) * H + h) * D;
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j <= i; j++) acc += P[i * S + j] * V[((b * S + j) * KVH + kvh) * D + d];
          O[oi + d] = acc;
        }
      }
    }
  }
  return { O, lse: lseOut };
}

/**
 * Gradients of attentionFwd given dO[B,S,H,D], recomputing P: dV_j = Σ_i P_ij·dO_i,
 * dS_ij = P_ij·(dO_i·v_j − Σ_k P_ik·dO_i·v_k), dQ_i = scale·Σ_j dS_ij·k_j, dK_j = scale·Σ_i dS_ij·q_i.
 * dK and dV [B,S,KVH,D] sum over the query heads that share each kv head.
 */
export function attentionBwd(
  dO: Float32Array,
  Q: Float32Array,
  K: Float32Array,
  V: Float32Array,
  B: number,
  S: number,
  H: number,
  KVH: number,
  D: number,
): { dQ: Float32Array; dK: Float32Array; dV: Float32Array } {
  const scale = 1 / Math.sqrt(D);
  const dQ = new Float64Array(Q.length);
  const dK = new Float64Array(K.length);
  const dV = new Float64Array(V.length);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / (H / KVH));
      const { P } = attentionProbs(Q, K, b, h, S, H, KVH, D);
      for (let i = 0; i < S; i++) {
        const qi = ((b * S + i) * H + h) * D;
        const dP = new Float64Array(i + 1);
        let rowDot = 0;
        for (let j = 0; j <= i; j++) {
          const vj = ((b * S + j) * KVH + kvh) * D;
          for (let d = 0; d < D; d++) {
            dP[j] += dO[qi + d] * V[vj + d];
            dV[vj + d] += P[i * S + j] * dO[qi + d];
          }
          rowDot += P[i * S + j] * dP[j];
        }
        for (let j = 0; j <= i; j++) {
          const kj = ((b * S + j) * KVH + kvh) * D;
          const dS = P[i * S + j] * (dP[j] - rowDot);
          for (let d = 0; d < D; d++) {
            dQ[qi + d] += scale * dS * K[kj + d];
            dK[kj + d] += scale * dS * Q[qi + d];
          }
        }
      }
    }
  }
  return { dQ: Float32Array.from(dQ), dK: Float32Array.from(dK), dV: Float32Array.from(dV) };
}

/**
 * One decoding step: o[B,H,D] = softmax_j(q·k_j/sqrt(D))·v_j over the cached positions j < T.
 * q is [B,H,D]; the caches Kc and Vc are [B,Tmax,KVH,D].
 */
export function attentionDecode(
  q: Float32Array,
  Kc: Float32Array,
  Vc: Float32Array,
  B: number,
  H: number,
  KVH: number,
  D: number,
  Tmax: number,
  T: number,
): Float32Array {
  const scale = 1 / Math.sqrt(D);
  const o = new Float32Array(B * H * D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / (H / KVH));
      const qi = (b * H + h) * D;
      const scores = new Float64Array(T);
      for (let j = 0; j < T; j++) {
        const kj = ((b * Tmax + j) * KVH + kvh) * D;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[qi + d] * Kc[kj + d];
        scores[j] = scale * dot;
      }
      const max = Math.max(...scores);
      let sum = 0;
      for (let j = 0; j < T; j++) sum += Math.exp(scores[j] - max);
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let j = 0; j < T; j++) acc += Math.exp(scores[j] - max) * Vc[((b * Tmax + j) * KVH + kvh) * D + d];
        o[qi + d] = acc / sum;
      }
    }
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Cross-entropy and the masked mean loss

/** log Σ_v exp(logits[r, v]) of one row, computed stably. */
function rowLse(logits: Float32Array, r: number, V: number): number {
  let max = -Infinity;
  for (let v = 0; v < V; v++) max = Math.max(max, logits[r * V + v]);
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[r * V + v] - max);
  return max + Math.log(sum);
}

function checkTarget(t: number, V: number): void {
  if (t >= V) throw new RangeError(`target ${t} is outside the vocabulary of ${V}`);
}

/**
 * Per-row cross-entropy of logits[rows,V]: lse[rows] for every row, loss[rows] = lse − logit of
 * the target, 0 where the target is negative (ignored).
 */
export function crossEntropyFwd(
  logits: Float32Array,
  targets: Int32Array,
  rows: number,
  V: number,
): { loss: Float32Array; lse: Float32Array } {
  const loss = new Float32Array(rows);
  const lse = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const l = rowLse(logits, r, V);
    lse[r] = l;
    const t = targets[r];
    checkTarget(t, V);
    if (t >= 0) loss[r] = l - logits[r * V + t];
  }
  return { loss, lse };
}

/** dlogits[rows,V] = (softmax(logits) − onehot(target))·scale; zero rows where the target is ignored. */
export function crossEntropyBwd(
  logits: Float32Array,
  targets: Int32Array,
  rows: number,
  V: number,
  scale: number,
): Float32Array {
  const dlogits = new Float32Array(rows * V);
  for (let r = 0; r < rows; r++) {
    const t = targets[r];
    checkTarget(t, V);
    if (t < 0) continue;
    const l = rowLse(logits, r, V);
    for (let v = 0; v < V; v++) {
      const p = Math.exp(logits[r * V + v] - l);
      dlogits[r * V + v] = (p - (v === t ? 1 : 0)) * scale;
    }
  }
  return dlogits;
}

/**
 * The training loss of SPEC.md §5 for inputIds and labels [B,S1] and logits [B,S1-1,V]:
 * tokens = inputIds[:, :-1], targets = labels[:, 1:], mask = (tokens != pad) & (targets != ignore),
 * loss = Σ(ce·mask)/(Σmask + 1e-8), returned rounded to f32.
 */
export function maskedMeanLoss(
  inputIds: Int32Array,
  labels: Int32Array,
  logits: Float32Array,
  B: number,
  S1: number,
  V: number,
  pad = 0,
  ignore = -100,
): number {
  const S = S1 - 1;
  const targets = new Int32Array(B * S);
  const mask = new Uint8Array(B * S);
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < S; s++) {
      const target = labels[b * S1 + s + 1];
      const keep = inputIds[b * S1 + s] !== pad && target !== ignore;
      mask[b * S + s] = keep ? 1 : 0;
      targets[b * S + s] = keep ? target : -1;
    }
  }
  const { loss } = crossEntropyFwd(logits, targets, B * S, V);
  let total = 0;
  let count = 0;
  for (let i = 0; i < B * S; i++) {
    total += loss[i] * mask[i];
    count += mask[i];
  }
  return f32(total / (count + 1e-8));
}

// ---------------------------------------------------------------------------------------------
// Embedding

/** out[n,dim] = table[ids[n], :] for table [vocab, dim]. */
export function embeddingGather(table: Float32Array, ids: Int32Array, dim: number): Float32Array {
  const vocab = table.length / dim;
  const out = new Float32Array(ids.length * dim);
  ids.forEach((id, n) => {
    if (id < 0 || id >= vocab) throw new RangeError(`token id ${id} is outside the vocabulary of ${vocab}`);
    out.set(table.subarray(id * dim, (id + 1) * dim), n * dim);
  });
  return out;
}

/** dTable[vocab,dim] += dOut[n,dim] scattered to rows ids[n], in place; repeated ids accumulate. */
export function embeddingScatterAdd(dTable: Float32Array, dOut: Float32Array, ids: Int32Array, dim: number): void {
  const vocab = dTable.length / dim;
  ids.forEach((id, n) => {
    if (id < 0 || id >= vocab) throw new RangeError(`token id ${id} is outside the vocabulary of ${vocab}`);
    for (let d = 0; d < dim; d++) dTable[id * dim + d] += dOut[n * dim + d];
  });
}

// ---------------------------------------------------------------------------------------------
// Optimizer and vector helpers

/** Hyper-parameters of one AdamW step; bc1 = 1 − β1^t and bc2 = 1 − β2^t, or both 1 for none. */
export interface AdamWParams {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  bc1: number;
  bc2: number;
}

/**
 * One AdamW step in place over p, g, m, v [n]: m = β1·m + (1−β1)·g, v = β2·v + (1−β2)·g²,
 * p −= lr·((m/bc1)/(sqrt(v/bc2) + eps) + weightDecay·p).
 */
export function adamwStep(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  { lr, beta1, beta2, eps, weightDecay, bc1, bc2 }: AdamWParams,
): void {
  for (let i = 0; i < p.length; i++) {
    m[i] = beta1 * m[i] + (1 - beta1) * g[i];
    v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
    const update = m[i] / bc1 / (Math.sqrt(v[i] / bc2) + eps) + weightDecay * p[i];
    p[i] = p[i] - lr * update;
  }
}

/** Σ x² in f64. */
export function sumSquares(x: Float32Array): number {
  let acc = 0;
  for (let i = 0; i < x.length; i++) acc += x[i] * x[i];
  return acc;
}

/** x ·= s in place. */
export function scaleInPlace(x: Float32Array, s: number): void {
  for (let i = 0; i < x.length; i++) x[i] *= s;
}

/** y += a·x in place. */
export function axpy(y: Float32Array, x: Float32Array, a: number): void {
  for (let i = 0; i < y.length; i++) y[i] += a * x[i];
}

// ---------------------------------------------------------------------------------------------
// Test helpers

/** ∂f/∂x by central differences (f(x+h) − f(x−h))/2h, one coordinate at a time, in f64. */
export function finiteDiffGrad(f: (x: Float64Array) => number, x: Float64Array, h = 1e-3): Float64Array {
  const xs = Float64Array.from(x);
  const grad = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    xs[i] = x[i] + h;
    const up = f(xs);
    xs[i] = x[i] - h;
    const down = f(xs);
    xs[i] = x[i];
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

/** mulberry32: a small seeded generator of uniform numbers in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n standard normal samples from seed (mulberry32 + Box–Muller), deterministic. */
export function randn(seed: number, n: number): Float32Array {
  const next = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - next()));
    const a = 2 * Math.PI * next();
    out[i] = r * Math.cos(a);
    if (i + 1 < n) out[i + 1] = r * Math.sin(a);
  }
  return out;
}

/** n samples uniform in [lo, hi) from seed (mulberry32), deterministic. */
export function uniform(seed: number, n: number, lo: number, hi: number): Float32Array {
  const next = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * next();
  return out;
}
