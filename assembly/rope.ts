// Rotary position embedding in the Hugging Face rotate-half layout: for a head vector with halves
// x1 = x[0:D/2] and x2 = x[D/2:], y1 = x1·cos − x2·sin and y2 = x2·cos + x1·sin.

/**
 * tab[S][D] = cos[D/2] then sin[D/2] for positions offset..offset+S−1, computed as Hugging Face
 * does in float32: inv_freq = 1/theta^(2i/D), angle = pos·inv_freq, each step rounded to f32.
 * factor > 0 rescales inv_freq as Llama 3 does (Hugging Face's _compute_llama3_parameters): with
 * wavelen = 2π/inv_freq, wavelengths above original/low are divided by factor, those below
 * original/high kept, and those between interpolated with s = (original/wavelen − low)/(high − low):
 * (1 − s)·inv_freq/factor + s·inv_freq.
 */
export function rope_table(tab: usize, S: i32, D: i32, theta: f32, offset: i32, factor: f32, low: f32, high: f32, original: f32): void {
  const half = D >> 1;
  for (let i = 0; i < half; i++) {
    const expo = <f32>(i << 1) / <f32>D;
    let invFreq = <f32>(1.0 / <f64>(<f32>Math.pow(<f64>theta, <f64>expo)));
    if (factor > 0) invFreq = llama3Scaled(invFreq, factor, low, high, original);
    for (let s = 0; s < S; s++) {
      const angle = <f32>(<f32>(s + offset) * invFreq);
      const row = tab + <usize>s * <usize>D * 4;
      store<f32>(row + <usize>i * 4, <f32>Math.cos(<f64>angle));
      store<f32>(row + <usize>(half + i) * 4, <f32>Math.sin(<f64>angle));
    }
  }
}

/** One inverse frequency rescaled by Llama 3's rule (see rope_table), in f32. */
function llama3Scaled(invFreq: f32, factor: f32, low: f32, high: f32, original: f32): f32 {
  const wavelen = <f32>(2.0 * Math.PI) / invFreq;
  if (wavelen > original / low) return invFreq / factor;
  if (wavelen < original / high) return invFreq;
  const smooth = (original / wavelen - low) / (high - low);
  return (1 - smooth) * invFreq / factor + smooth * invFreq;
}

/**
 * Rotates x[B,S,H,D] in place by the angles of tab (from rope_table over S positions);
 * inverse = true rotates by the negative angles, which is the backward pass.
 */
export function rope_apply(x: usize, tab: usize, B: i32, S: i32, H: i32, D: i32, inverse: bool): void {
  const half = D >> 1;
  const sgn = f32x4.splat(inverse ? -1.0 : 1.0);
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < S; s++) {
      const c = tab + <usize>s * <usize>D * 4, sn = c + <usize>half * 4;
      const row = x + (<usize>(b * S + s) * <usize>H) * <usize>D * 4;
      for (let h = 0; h < H; h++) {
        const x1 = row + <usize>(h * D) * 4, x2 = x1 + <usize>half * 4;
        let i = 0;
        for (; i + 4 <= half; i += 4) {
          const o = <usize>i * 4;
          const cv = v128.load(c + o), sv = f32x4.mul(v128.load(sn + o), sgn);
          const a = v128.load(x1 + o), bb = v128.load(x2 + o);
          v128.store(x1 + o, f32x4.sub(f32x4.mul(a, cv), f32x4.mul(bb, sv)));
          v128.store(x2 + o, f32x4.add(f32x4.mul(bb, cv), f32x4.mul(a, sv)));
        }
        for (; i < half; i++) {
          const o = <usize>i * 4;
          const cv = load<f32>(c + o), sv = inverse ? -load<f32>(sn + o) : load<f32>(sn + o);
          const a = load<f32>(x1 + o), bb = load<f32>(x2 + o);
          store<f32>(x1 + o, a * cv - bb * sv);
          store<f32>(x2 + o, bb * cv + a * sv);
        }
      }
    }
  }
}
