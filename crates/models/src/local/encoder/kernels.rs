//! CPU kernels for the encoder's own forward pass: a matrix multiply against pre-packed
//! weights, and the element-wise work around it (softmax, GELU, layer norm) in loops the
//! compiler vectorises.
//!
//! Why not candle's ops: for one sentence of 128 tokens MiniLM is 2.7 GFLOP in ~120 small
//! ops; candle allocates and dispatches each, and its matmul (the `gemm` crate as candle
//! builds it) uses 256-bit AVX2 only. Here the weights are packed once at load time into
//! column panels, the multiply runs a register-blocked micro-kernel (AVX-512 when the CPU has
//! it, else AVX2 with FMA), and bias, residual and GELU are applied while the output tile is
//! still in cache.
//!
//! Every output element is computed by the same sequence of floating-point operations whatever
//! the number of threads (threads split output columns, never a sum), so results are
//! bit-for-bit reproducible across thread counts on one machine.
//!
//! Two precisions ([`Precision`]). `F32` multiplies f32 by f32. `Bf16` rounds the weights and
//! the layer's input to bfloat16 (round to nearest even, subnormals to zero) and accumulates
//! the exact products in f32: on a CPU with AVX-512 BF16 this is `vdpbf16ps`, twice the
//! multiply rate of f32 FMA; elsewhere the same rounded values go through the f32 kernel, so
//! both give the same products and differ only in the order of additions.
//!
//! A third, `Int8`, quantizes each weight row (one output) to signed 8-bit integers with its
//! own scale (its largest magnitude maps to 127), once at load time, and each input row
//! likewise before each multiply; the products are summed exactly in 32-bit integers and
//! scaled back to f32 before the bias. On a CPU with AVX-512 VNNI one `vpdpbusd` does 64
//! multiply-adds, twice as many as `vdpbf16ps`; the portable kernel gives the same integers
//! (integer sums do not depend on their order), but some 20 times slower than the bf16 pass,
//! so the encoder loads int8 only where the CPU has VNNI (see `LocalEncoder::load_with`).
//! The price is precision: 8 bits per value instead of bfloat16's 8-bit mantissa plus
//! exponent, so the embeddings move more than bf16 moves them (see the encoder's tests).

use std::sync::OnceLock;

use super::team;

/// Output columns per packed panel (two 16-lane AVX-512 registers).
pub(crate) const NR: usize = 32;
/// Rows per micro-kernel call (12 × 2 accumulators = 24 of the 32 vector registers).
pub(crate) const MR: usize = 12;
/// Rows of the left operand per block, and depth per block: a block of A (`MC × KC` floats,
/// 288 KiB) stays in a core's L2 while a weight panel's block (`KC × NR`, 48 KiB) fits L1.
const MC: usize = 192;
const KC: usize = 384;

/// Which instruction set the kernels run with, detected once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    Avx512,
    Avx2,
    Portable,
}

pub(crate) fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::env::var_os("EMMENTAL_ENCODER_NO_AVX512").is_none()
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("fma")
            {
                return Isa::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    })
}

/// Whether `vdpbf16ps` is available (AVX-512 BF16 on top of the AVX-512 kernels), detected
/// once; `EMMENTAL_ENCODER_NO_BF16` set turns it off (the emulated path then runs).
pub(crate) fn has_bf16() -> bool {
    static BF16: OnceLock<bool> = OnceLock::new();
    *BF16.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            isa() == Isa::Avx512
                && std::env::var_os("EMMENTAL_ENCODER_NO_BF16").is_none()
                && is_x86_feature_detected!("avx512bf16")
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    })
}

/// The precision of a linear layer's multiplies (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    Bf16,
    Int8,
}

/// Whether `vpdpbusd` is available (AVX-512 VNNI on top of the AVX-512 kernels), detected
/// once; `EMMENTAL_ENCODER_NO_VNNI` set turns it off (an int8 encoder then loads the bf16
/// pass instead, and an int8 [`PackedLinear`] runs the portable integer kernel).
pub(crate) fn has_vnni() -> bool {
    static VNNI: OnceLock<bool> = OnceLock::new();
    *VNNI.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            isa() == Isa::Avx512
                && std::env::var_os("EMMENTAL_ENCODER_NO_VNNI").is_none()
                && is_x86_feature_detected!("avx512vnni")
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    })
}

/// `x` rounded to bfloat16 (nearest, ties to even; subnormals become zero as `vcvtne2ps2bf16`
/// makes them), as its 16 bits.
#[inline(always)]
pub(crate) fn bf16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) | 0x40) as u16;
    }
    if b & 0x7F80_0000 == 0 {
        return (b >> 16) as u16 & 0x8000;
    }
    let rounded = b + 0x7FFF + ((b >> 16) & 1);
    (rounded >> 16) as u16
}

/// Values `2i` and `2i + 1` of `row` as a bfloat16 pair (low half first; zero past the end).
#[inline(always)]
fn bf16_pair(row: &[f32], i: usize) -> u32 {
    let lo = bf16_bits(row[2 * i]) as u32;
    let hi = row.get(2 * i + 1).map_or(0, |&x| bf16_bits(x) as u32);
    lo | hi << 16
}

/// `x` rounded to bfloat16, as an f32.
#[inline(always)]
pub(crate) fn bf16_round(x: f32) -> f32 {
    f32::from_bits((bf16_bits(x) as u32) << 16)
}

/// The packed weights in the form the running kernel reads.
enum Panels {
    /// f32 panels (see [`PackedLinear`]); with [`Precision::Bf16`] on a CPU without BF16 the
    /// values are already rounded to bfloat16.
    F32(Aligned<f32>),
    /// bfloat16 pairs for `vdpbf16ps`: panel `p` holds at `kp·NR + j` the 32 bits
    /// `W[p·NR + j][2kp] | W[p·NR + j][2kp + 1] << 16` (a zero past an odd `k`).
    Bf16(Aligned<u32>),
    /// Signed 8-bit quads for `vpdpbusd`: panel `p` holds at `kq·NR + j` the four bytes
    /// `Q[p·NR + j][4kq..4kq + 4]` (low byte first, zeros past `k`), where row `r` of `W` is
    /// `scale[r] · Q[r]`; `sums[r]` is the sum of `Q[r]` (see [`pack_int8`]).
    Int8 {
        quads: Aligned<u32>,
        scale: Vec<f32>,
        sums: Vec<i32>,
    },
}

/// A linear layer `y = x·Wᵀ + b` with `W` (`n × k`, PyTorch's layout) packed into panels of
/// [`NR`] output columns: panel `p` holds `W[p·NR + j][kk]` at `kk·NR + j`.
pub(crate) struct PackedLinear {
    pub n: usize,
    pub k: usize,
    precision: Precision,
    panels: Panels,
    bias: Vec<f32>,
}

/// The left operand as the kernel reads it.
#[derive(Clone, Copy)]
enum Lhs<'a> {
    F32(&'a [f32]),
    /// bfloat16 pairs, `k.div_ceil(2)` per row.
    Bf16(&'a [u32]),
    /// Quantized rows: `4 · k.div_ceil(4)` unsigned bytes per row, each the signed value plus
    /// 128 (128 past `k`), and each row's scale.
    Int8(&'a [u8], &'a [f32]),
}

/// What happens to an output tile before it is stored.
#[derive(Clone, Copy)]
pub(crate) enum Epilogue<'a> {
    /// `y = x·Wᵀ + b`
    Bias,
    /// `y = x·Wᵀ + b + r` (`r` has the output's shape)
    BiasResidual(&'a [f32]),
    /// `y = gelu(x·Wᵀ + b)`, GELU with the exact error function as BERT uses it.
    BiasGelu,
}

impl PackedLinear {
    pub fn new(weight: &[f32], bias: &[f32], n: usize, k: usize, precision: Precision) -> Self {
        Self::build(weight, bias, n, k, precision, has_bf16())
    }

    /// As [`Self::new`], choosing whether bf16 runs on `vdpbf16ps` (`hardware`, which must
    /// then be available) or emulated.
    fn build(
        weight: &[f32],
        bias: &[f32],
        n: usize,
        k: usize,
        precision: Precision,
        hardware: bool,
    ) -> Self {
        assert_eq!(weight.len(), n * k, "weight shape");
        assert_eq!(bias.len(), n, "bias shape");
        assert!(!hardware || has_bf16(), "bf16 kernel without AVX-512 BF16");
        let panels = match precision {
            Precision::F32 => Panels::F32(pack_rows_as_columns(weight, n, k)),
            Precision::Bf16 if hardware => Panels::Bf16(pack_bf16_pairs(weight, n, k)),
            Precision::Bf16 => {
                let rounded: Vec<f32> = weight.iter().map(|&w| bf16_round(w)).collect();
                Panels::F32(pack_rows_as_columns(&rounded, n, k))
            }
            Precision::Int8 => pack_int8(weight, n, k),
        };
        Self {
            n,
            k,
            precision,
            panels,
            bias: bias.to_vec(),
        }
    }

    fn n_panels(&self) -> usize {
        self.n.div_ceil(NR)
    }

    /// How deep a block of the depth is: integer sums are not carried between blocks in
    /// `out` (a float), so the int8 kernel takes the whole depth at once (its panel, at most
    /// `k × NR` bytes, still fits L1 for MiniLM's 1,536).
    fn depth_block(&self) -> usize {
        match self.panels {
            Panels::Int8 { .. } => self.k.max(1),
            _ => KC,
        }
    }

    /// `out[m × n] = epilogue(a[m × k] · Wᵀ + b)`, split over the pass's threads (see
    /// [`team`]) by chunks of output panels.
    ///
    /// Loop order: rows in blocks of [`MC`], the depth in blocks of [`KC`], then panels, then
    /// row tiles. A block of `a` (`MC × KC`) stays in the core's L2 while the weights stream
    /// past it once per row block; partial sums wait in `out` between depth blocks and are
    /// picked up again, so each output is still one chain of multiply-adds in order of `k`.
    pub fn forward(&self, a: &[f32], m: usize, out: &mut [f32], epilogue: Epilogue<'_>) {
        assert_eq!(a.len(), m * self.k);
        assert_eq!(out.len(), m * self.n);
        if let Epilogue::BiasResidual(r) = epilogue {
            assert_eq!(r.len(), out.len());
        }
        // The input in the form the kernel reads, converted once for all threads.
        let (mut rounded, pairs, quads);
        let lhs = match (&self.panels, self.precision) {
            (Panels::Bf16(_), _) => {
                pairs = to_bf16_pairs(a, m, self.k);
                Lhs::Bf16(&pairs)
            }
            (Panels::Int8 { .. }, _) => {
                quads = quantize_input(a, m, self.k);
                Lhs::Int8(&quads.0, &quads.1)
            }
            (Panels::F32(_), Precision::Bf16) => {
                rounded = Aligned::from_slice(a);
                round_bf16_in_place(&mut rounded);
                Lhs::F32(&rounded)
            }
            (Panels::F32(_), _) => Lhs::F32(a),
        };
        let out_ptr = SendPtr(out.as_mut_ptr());
        let panels = self.n_panels();
        // Chunks of panels for the pass's threads to claim (see `team`): a few per thread, so
        // that a thread that starts late or runs slow leaves little for the others to wait on.
        let per = panels.div_ceil(CHUNKS_PER_LOOP).max(1);
        let depth = self.depth_block();
        team::for_each(panels.div_ceil(per), |c| {
            let (p0, p1) = (c * per, ((c + 1) * per).min(panels));
            for r0 in (0..m).step_by(MC) {
                let rows = MC.min(m - r0);
                for k0 in (0..self.k).step_by(depth) {
                    for p in p0..p1 {
                        // SAFETY: chunks write disjoint column ranges of `out`, which
                        // outlives this call; the tile lies inside `out` (asserted shapes).
                        unsafe { tile(self, lhs, r0, rows, k0, p, out_ptr, epilogue) };
                    }
                }
            }
        });
    }
}

/// A tile of output rows on a cache line.
#[repr(C, align(64))]
pub(crate) struct Tile<T>(pub(crate) [[T; NR]; MR]);

/// Rows `r0..r0+rows` of panel `p` of `l`, depth `k0..k0 + depth_block()`: [`tile`] compiled
/// for the detected instruction set runs it.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_impl(
    l: &PackedLinear,
    a: Lhs<'_>,
    r0: usize,
    rows: usize,
    k0: usize,
    p: usize,
    out: SendPtr,
    epi: Epilogue<'_>,
) {
    let (k, n) = (l.k, l.n);
    let kc = l.depth_block().min(k - k0);
    let (first, last) = (k0 == 0, k0 + kc == k);
    let cols = NR.min(n - p * NR);
    let bias = &l.bias[p * NR..p * NR + cols];
    // Zeroed once, then written before they are read, row tile after row tile: the kernels
    // write whole rows, and the columns past `cols` of a last, narrower panel are never read
    // or copied out. On a cache line: each row is stored and read straight back in 64-byte
    // vectors, and a vector that straddles two lines is not forwarded from the store to the
    // load (which waits for the cache). Against plain arrays where the compiler put them, a
    // pass was 7–8.5% shorter in int8 and 3.5–5.6% in bf16 (README, "The kernels load").
    let (mut tile, mut acc) = (Tile([[0f32; NR]; MR]), Tile([[0i32; NR]; MR]));
    let (tile, acc) = (&mut tile.0, &mut acc.0);
    let mut r = r0;
    while r < r0 + rows {
        let mr = MR.min(r0 + rows - r);
        if !first {
            for (i, row) in tile[..mr].iter_mut().enumerate() {
                // SAFETY: see `forward`; this thread wrote these partial sums.
                unsafe { copy_cols(out.ptr().add((r + i) * n + p * NR), row.as_mut_ptr(), cols) };
            }
        }
        match (a, &l.panels) {
            (Lhs::F32(a), Panels::F32(panels)) => {
                let b = &panels[(p * k + k0) * NR..(p * k + k0 + kc) * NR];
                micro_acc(&mut tile[..mr], &a[r * k + k0..], k, kc, b, !first);
            }
            (Lhs::Bf16(a), Panels::Bf16(panels)) => {
                // KC is even, so a depth block starts on a pair.
                let (kp, kp0, kpc) = (k.div_ceil(2), k0 / 2, kc.div_ceil(2));
                let b = &panels[(p * kp + kp0) * NR..(p * kp + kp0 + kpc) * NR];
                micro_bf16(&mut tile[..mr], &a[r * kp + kp0..], kp, kpc, b, !first);
            }
            (Lhs::Int8(a, a_scale), Panels::Int8 { quads, scale, sums }) => {
                // The whole depth in one block (see `depth_block`).
                let kq = k.div_ceil(4);
                let b = &quads[p * kq * NR..(p + 1) * kq * NR];
                micro_i8(&mut acc[..mr], &a[r * 4 * kq..], 4 * kq, kq, b);
                let cs = p * NR..p * NR + cols;
                let (scale, sums) = (&scale[cs.clone()], &sums[cs]);
                for (i, (row, acc)) in tile[..mr].iter_mut().zip(&*acc).enumerate() {
                    let sa = a_scale[r + i];
                    let outs = row[..cols].iter_mut().zip(&acc[..cols]);
                    for ((o, &x), (&sw, &sum)) in outs.zip(scale.iter().zip(sums)) {
                        // Each input byte carries 128 on top of its value.
                        *o = (x - 128 * sum) as f32 * (sa * sw);
                    }
                }
            }
            _ => unreachable!("the input is converted to the panels' form in `forward`"),
        }
        for (i, row) in tile[..mr].iter_mut().enumerate() {
            if last {
                for j in 0..cols {
                    row[j] += bias[j];
                }
                match epi {
                    Epilogue::Bias => {}
                    Epilogue::BiasResidual(res) => {
                        let off = (r + i) * n + p * NR;
                        for j in 0..cols {
                            row[j] += res[off + j];
                        }
                    }
                    Epilogue::BiasGelu => gelu_tile(&mut row[..cols]),
                }
            }
            // SAFETY: see `forward`.
            unsafe { copy_cols(row.as_ptr(), out.ptr().add((r + i) * n + p * NR), cols) };
        }
        r += mr;
    }
}

/// Copies `cols ≤ NR` floats; a full panel's width is a fixed-size copy the compiler inlines
/// (a variable length would call `memcpy` for every row of every tile).
///
/// # Safety
/// As `copy_nonoverlapping` for `cols` floats.
#[inline(always)]
unsafe fn copy_cols(src: *const f32, dst: *mut f32, cols: usize) {
    // SAFETY: the caller's contract.
    unsafe {
        if cols == NR {
            std::ptr::copy_nonoverlapping(src, dst, NR);
        } else {
            std::ptr::copy_nonoverlapping(src, dst, cols);
        }
    }
}

/// A row of `x` as signed 8-bit values plus `bias` (wrapping) and a scale: the row's largest
/// magnitude maps to 127 and each value rounds to the nearest step (an all-zero row gets
/// scale 0), so `x[i] ≈ scale · q[i]` with `|q| ≤ 127`. (An infinite or NaN value is a bug
/// upstream of the multiply; the row then gets zeros.)
fn quantize_row(x: &[f32], q: &mut [u8], bias: u8) -> f32 {
    let mut scale = 0.0;
    quantize_row_into(x, q, bias, &mut scale);
    scale
}

/// [`quantize_row`] in branch-free loops, so that they vectorise.
#[inline(always)]
fn quantize_row_impl(x: &[f32], q: &mut [u8], bias: u8, scale: &mut f32) {
    // Eight running maxima, and whether any value is infinite or NaN.
    let (mut tops, mut bad) = ([0f32; 8], 0u32);
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (t, v) in tops.iter_mut().zip(c) {
            let a = v.abs();
            *t = if a > *t { a } else { *t };
            bad |= u32::from(!a.is_finite());
        }
    }
    for v in tail {
        let a = v.abs();
        tops[0] = if a > tops[0] { a } else { tops[0] };
        bad |= u32::from(!a.is_finite());
    }
    let top = tops.iter().fold(0f32, |m, &t| if t > m { t } else { m });
    if top == 0.0 || bad != 0 {
        q.fill(bias);
        *scale = 0.0;
        return;
    }
    *scale = top / 127.0;
    let inv = 127.0 / top;
    // Adding 1.5 · 2^23 rounds to the nearest integer (ties to even) and leaves it in the
    // low bits of the sum's mantissa: plain float and integer arithmetic, which vectorises
    // where `round` and a checked conversion do not.
    const SHIFT: f32 = 12_582_912.0;
    for (q, &v) in q.iter_mut().zip(x) {
        let r = ((v * inv).clamp(-127.0, 127.0) + SHIFT).to_bits() as i32 - SHIFT.to_bits() as i32;
        *q = (r as u8).wrapping_add(bias);
    }
}

/// Four bytes as one word, the first lowest (zeros past the end).
fn quad(q: &[u8], at: usize) -> u32 {
    let byte = |i: usize| q.get(at + i).map_or(0, |&v| u32::from(v));
    byte(0) | byte(1) << 8 | byte(2) << 16 | byte(3) << 24
}

/// Quantizes the rows of `w` (`n × k`) and packs them as [`Panels::Int8`].
fn pack_int8(w: &[f32], n: usize, k: usize) -> Panels {
    let (panels, kq) = (n.div_ceil(NR), k.div_ceil(4));
    let mut quads = Aligned::zeroed(panels * kq * NR);
    let (mut scale, mut sums) = (vec![0f32; n], vec![0i32; n]);
    let mut q = vec![0u8; k];
    for row in 0..n {
        scale[row] = quantize_row(&w[row * k..(row + 1) * k], &mut q, 0);
        sums[row] = q.iter().map(|&v| i32::from(v as i8)).sum();
        let (p, j) = (row / NR, row % NR);
        for g in 0..kq {
            quads[(p * kq + g) * NR + j] = quad(&q, 4 * g);
        }
    }
    Panels::Int8 { quads, scale, sums }
}

/// The rows of `a` (`m × k`) quantized (see [`quantize_row`]) as unsigned bytes, each the
/// signed value plus 128 (`vpdpbusd` multiplies unsigned by signed bytes; the kernel's caller
/// takes `128 · Σ q` of the weights back off), `4 · k.div_ceil(4)` per row, and the rows'
/// scales. The padding past `k` is 128 (a zero), against zero weights: it adds nothing.
fn quantize_input(a: &[f32], m: usize, k: usize) -> (Aligned<u8>, Vec<f32>) {
    let lda = 4 * k.div_ceil(4);
    let mut out = Aligned::filled(m * lda, 128u8);
    let mut scale = vec![0f32; m];
    let per = m.div_ceil(CHUNKS_PER_LOOP).max(16);
    let (dst, sc) = (SendPtr(out.as_mut_ptr()), SendPtr(scale.as_mut_ptr()));
    team::for_each(m.div_ceil(per), |c| {
        let (r0, r1) = (c * per, ((c + 1) * per).min(m));
        for r in r0..r1 {
            // SAFETY: chunks write disjoint rows of `out` and `scale`, which outlive this call.
            unsafe {
                let row = std::slice::from_raw_parts_mut(dst.ptr().add(r * lda), k);
                *sc.ptr().add(r) = quantize_row(&a[r * k..(r + 1) * k], row, 128);
            }
        }
    });
    (out, scale)
}

/// `tile[i][j] = Σ_{kk < 4·kq} a[i·lda + kk] · (byte kk % 4 of b[(kk / 4)·NR + j] as i8)`:
/// unsigned input bytes times signed weight bytes, summed exactly in 32-bit integers
/// (`vpdpbusd` when [`has_vnni`], else plain integer loops: the same sums).
fn micro_i8(tile: &mut [[i32; NR]], a: &[u8], lda: usize, kq: usize, b: &[u32]) {
    let mr = tile.len();
    assert!(mr <= MR && mr > 0);
    assert!(b.len() >= kq * NR);
    assert!(a.len() >= (mr - 1) * lda + 4 * kq);
    #[cfg(target_arch = "x86_64")]
    if has_vnni() {
        // SAFETY: the CPU has AVX-512 VNNI (detected); bounds asserted above.
        return unsafe { avx512::micro_i8_dispatch(tile, a.as_ptr(), lda, kq, b.as_ptr()) };
    }
    micro_i8_portable(tile, a, lda, kq, b);
}

fn micro_i8_portable(tile: &mut [[i32; NR]], a: &[u8], lda: usize, kq: usize, b: &[u32]) {
    for (i, row) in tile.iter_mut().enumerate() {
        row.fill(0);
        for q in 0..kq {
            let x = &a[i * lda + 4 * q..][..4];
            for (j, out) in row.iter_mut().enumerate() {
                let w = b[q * NR + j].to_le_bytes();
                for t in 0..4 {
                    *out += i32::from(x[t]) * i32::from(w[t] as i8);
                }
            }
        }
    }
}

/// Packs the rows of `w` (`n × k`) as bfloat16 pairs (see [`Panels::Bf16`]).
fn pack_bf16_pairs(w: &[f32], n: usize, k: usize) -> Aligned<u32> {
    let (panels, kp) = (n.div_ceil(NR), k.div_ceil(2));
    let mut out = Aligned::zeroed(panels * kp * NR);
    for row in 0..n {
        let (p, j) = (row / NR, row % NR);
        let w = &w[row * k..(row + 1) * k];
        for pair in 0..kp {
            out[(p * kp + pair) * NR + j] = bf16_pair(w, pair);
        }
    }
    out
}

/// The rows of `a` (`m × k`) as bfloat16 pairs, `k.div_ceil(2)` per row (a zero past an odd
/// `k`).
fn to_bf16_pairs(a: &[f32], m: usize, k: usize) -> Aligned<u32> {
    let kp = k.div_ceil(2);
    let mut out = Aligned::<u32>::zeroed(m * kp);
    // Rows in chunks over the pass's threads: a serial stretch between two parallel loops
    // would leave the helpers waiting.
    let per = m.div_ceil(CHUNKS_PER_LOOP).max(16);
    let dst = SendPtr(out.as_mut_ptr());
    team::for_each(m.div_ceil(per), |c| {
        let (r0, r1) = (c * per, ((c + 1) * per).min(m));
        for r in r0..r1 {
            // SAFETY: chunks write disjoint rows of `out`, which outlives this call.
            let row = unsafe { std::slice::from_raw_parts_mut(dst.ptr().add(r * kp), kp) };
            convert_row_bf16(&a[r * k..(r + 1) * k], row);
        }
    });
    out
}

fn convert_row_bf16(row: &[f32], dst: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if has_bf16() {
        // SAFETY: the CPU has AVX-512 BF16 (detected); lengths are checked inside.
        return unsafe { avx512::convert_row_bf16(row, dst) };
    }
    for (i, d) in dst.iter_mut().enumerate() {
        *d = bf16_pair(row, i);
    }
}

/// `tile[i][j] (+)= Σ_kp a[i·lda + kp] · b[kp·NR + j]` over bfloat16 pairs: both halves of
/// a pair multiplied and added in f32 (`vdpbf16ps`). Only called when [`has_bf16`].
fn micro_bf16(
    tile: &mut [[f32; NR]],
    a: &[u32],
    lda: usize,
    kp: usize,
    b: &[u32],
    accumulate: bool,
) {
    let mr = tile.len();
    assert!(mr <= MR && mr > 0);
    assert!(b.len() >= kp * NR);
    assert!(a.len() >= (mr - 1) * lda + kp);
    assert!(has_bf16(), "bf16 kernel without AVX-512 BF16");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has AVX-512 BF16 (asserted); bounds asserted above.
    unsafe {
        avx512::micro_bf16_dispatch(tile, a.as_ptr(), lda, kp, b.as_ptr(), accumulate)
    }
}

/// Packs the rows of `w` (`n × k`) as the columns of panels (see [`PackedLinear`]); the last
/// panel is padded with zeros.
pub(crate) fn pack_rows_as_columns(w: &[f32], n: usize, k: usize) -> Aligned<f32> {
    let panels = n.div_ceil(NR);
    let mut out = Aligned::zeroed(panels * k * NR);
    for row in 0..n {
        let (p, j) = (row / NR, row % NR);
        let base = p * k * NR;
        for kk in 0..k {
            out[base + kk * NR + j] = w[row * k + kk];
        }
    }
    out
}

/// One cache line.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Line([u8; 64]);

/// Element types of [`Aligned`]: plain numbers, for which all-zero bytes are a value.
pub(crate) trait Plain: Copy + 'static {}
impl Plain for f32 {}
impl Plain for u32 {}
impl Plain for i32 {}
impl Plain for u8 {}

/// `len` values starting on a cache line (64 bytes), zeroed. The allocator aligns a `Vec`'s
/// buffer to 16 bytes only, so a row of 16 floats in one could straddle two lines, and each
/// 64-byte load or store of the kernels then touches both. Rows of the encoder's matrices
/// (384, 1,152 and 1,536 floats, 384 and 1,536 bytes quantized) all start on a line too. For
/// the pass's matrices this was worth 1.4–10% of a pass, depending on the host's phase; for
/// the weight panels nothing measurable (README, "The kernels load").
pub(crate) struct Aligned<T: Plain> {
    lines: Vec<Line>,
    len: usize,
    _values: std::marker::PhantomData<T>,
}

impl<T: Plain> Aligned<T> {
    pub(crate) fn zeroed(len: usize) -> Self {
        let bytes = len * std::mem::size_of::<T>();
        Self {
            lines: vec![Line([0; 64]); bytes.div_ceil(64)],
            len,
            _values: std::marker::PhantomData,
        }
    }

    pub(crate) fn filled(len: usize, value: T) -> Self {
        let mut a = Self::zeroed(len);
        a.fill(value);
        a
    }

    pub(crate) fn from_slice(values: &[T]) -> Self {
        let mut a = Self::zeroed(values.len());
        a.copy_from_slice(values);
        a
    }
}

impl<T: Plain> std::ops::Deref for Aligned<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `lines` holds at least `len · size_of::<T>()` initialised bytes, aligned to
        // 64 ≥ `align_of::<T>()`, and any bytes are a `T` (`Plain`); an empty `Vec`'s
        // dangling pointer is aligned too.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<T>(), self.len) }
    }
}

impl<T: Plain> std::ops::DerefMut for Aligned<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<T>(), self.len) }
    }
}

#[derive(Clone, Copy)]
pub(crate) struct SendPtr<T = f32>(pub *mut T);
// SAFETY: used only to write disjoint regions from the threads of a pass.
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer (a method, so closures capture the `Send` wrapper and not its field).
    pub(crate) fn ptr(&self) -> *mut T {
        self.0
    }
}

/// How many chunks a parallel loop of a pass is cut into, at most (see [`team`]).
pub(crate) const CHUNKS_PER_LOOP: usize = 8;

/// `tile[i][j] = Σ_kk a[i·lda + kk] · b[kk·NR + j]` for `i < tile.len() ≤ MR`, summed in
/// order of `kk` (one panel of `b`, `k` deep).
pub(crate) fn micro(tile: &mut [[f32; NR]], a: &[f32], lda: usize, k: usize, b: &[f32]) {
    micro_acc(tile, a, lda, k, b, false)
}

/// As [`micro`], adding to the values already in `tile` when `accumulate` (the chain of
/// multiply-adds continues from them, so splitting `k` changes no bit of the result).
pub(crate) fn micro_acc(
    tile: &mut [[f32; NR]],
    a: &[f32],
    lda: usize,
    k: usize,
    b: &[f32],
    accumulate: bool,
) {
    let mr = tile.len();
    assert!(mr <= MR && mr > 0);
    assert!(b.len() >= k * NR);
    assert!(a.len() >= (mr - 1) * lda + k);
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX-512F (detected); bounds asserted above.
        Isa::Avx512 => unsafe {
            avx512::micro_dispatch(tile, a.as_ptr(), lda, k, b.as_ptr(), accumulate)
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2 and FMA (detected); bounds asserted above.
        Isa::Avx2 => unsafe { avx2::micro(tile, a.as_ptr(), lda, k, b.as_ptr(), accumulate) },
        _ => micro_portable(tile, a, lda, k, b, accumulate),
    }
}

#[inline(always)]
fn micro_portable(
    tile: &mut [[f32; NR]],
    a: &[f32],
    lda: usize,
    k: usize,
    b: &[f32],
    accumulate: bool,
) {
    for (i, row) in tile.iter_mut().enumerate() {
        let mut acc = if accumulate { *row } else { [0f32; NR] };
        let ai = &a[i * lda..i * lda + k];
        for (kk, &x) in ai.iter().enumerate() {
            let bk: &[f32; NR] = b[kk * NR..kk * NR + NR].try_into().expect("NR");
            for j in 0..NR {
                acc[j] = x.mul_add(bk[j], acc[j]);
            }
        }
        *row = acc;
    }
}

/// The micro-kernel on AVX2 (16 registers of 8 floats): the tile in blocks of up to 6 rows ×
/// 16 columns, 12 accumulators, two registers of the panel and one broadcast of the input.
/// Each output is the same chain of fused multiply-adds in order of `k` as in
/// [`micro_portable`], so both give the same bits.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::NR;

    /// Rows per block.
    const RB: usize = 6;

    /// # Safety
    /// The CPU has AVX2 and FMA; `a` holds `tile.len()` rows of `k` floats `lda` apart, `b`
    /// holds `k` rows of [`NR`] floats.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn micro(
        tile: &mut [[f32; NR]],
        a: *const f32,
        lda: usize,
        k: usize,
        b: *const f32,
        acc: bool,
    ) {
        let mut i0 = 0;
        while i0 < tile.len() {
            let rows = RB.min(tile.len() - i0);
            let t = &mut tile[i0..i0 + rows];
            // SAFETY: the caller's contract; rows `i0..i0 + rows` are inside `a`.
            unsafe {
                let a = a.add(i0 * lda);
                for col in [0, NR / 2] {
                    let b = b.add(col);
                    match rows {
                        6 => block::<6>(t, a, lda, k, b, col, acc),
                        5 => block::<5>(t, a, lda, k, b, col, acc),
                        4 => block::<4>(t, a, lda, k, b, col, acc),
                        3 => block::<3>(t, a, lda, k, b, col, acc),
                        2 => block::<2>(t, a, lda, k, b, col, acc),
                        1 => block::<1>(t, a, lda, k, b, col, acc),
                        n => unreachable!("block of {n} rows"),
                    }
                }
            }
            i0 += rows;
        }
    }

    /// Columns `col..col + 16` of `R` rows of the tile.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn block<const R: usize>(
        tile: &mut [[f32; NR]],
        a: *const f32,
        lda: usize,
        k: usize,
        b: *const f32,
        col: usize,
        acc: bool,
    ) {
        // SAFETY: the caller's contract (see `micro`); `col + 16 <= NR`.
        unsafe {
            let mut c = [[_mm256_setzero_ps(); 2]; R];
            if acc {
                for (i, ci) in c.iter_mut().enumerate() {
                    let row = tile[i].as_ptr().add(col);
                    *ci = [_mm256_loadu_ps(row), _mm256_loadu_ps(row.add(8))];
                }
            }
            for kk in 0..k {
                let bk = b.add(kk * NR);
                let (b0, b1) = (_mm256_loadu_ps(bk), _mm256_loadu_ps(bk.add(8)));
                for (i, ci) in c.iter_mut().enumerate() {
                    let x = _mm256_broadcast_ss(&*a.add(i * lda + kk));
                    ci[0] = _mm256_fmadd_ps(x, b0, ci[0]);
                    ci[1] = _mm256_fmadd_ps(x, b1, ci[1]);
                }
            }
            for (i, ci) in c.iter().enumerate() {
                let row = tile[i].as_mut_ptr().add(col);
                _mm256_storeu_ps(row, ci[0]);
                _mm256_storeu_ps(row.add(8), ci[1]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{MR, NR};

    /// Calls `kernel::<R>(args)` with the const `R` equal to `rows` (1 to [`MR`]).
    macro_rules! by_rows {
        ($rows:expr, $kernel:ident($($arg:expr),*)) => {
            match $rows {
                12 => $kernel::<12>($($arg),*),
                11 => $kernel::<11>($($arg),*),
                10 => $kernel::<10>($($arg),*),
                9 => $kernel::<9>($($arg),*),
                8 => $kernel::<8>($($arg),*),
                7 => $kernel::<7>($($arg),*),
                6 => $kernel::<6>($($arg),*),
                5 => $kernel::<5>($($arg),*),
                4 => $kernel::<4>($($arg),*),
                3 => $kernel::<3>($($arg),*),
                2 => $kernel::<2>($($arg),*),
                1 => $kernel::<1>($($arg),*),
                n => unreachable!("tile of {n} rows (MR = {MR})"),
            }
        };
    }

    pub(super) unsafe fn micro_dispatch(
        tile: &mut [[f32; NR]],
        a: *const f32,
        lda: usize,
        k: usize,
        b: *const f32,
        acc: bool,
    ) {
        // SAFETY: the caller checked the CPU and the bounds.
        unsafe { by_rows!(tile.len(), micro(tile, a, lda, k, b, acc)) }
    }

    /// A tile's `R` rows as accumulators, low and high 16 columns: the tile's values to add
    /// to, or zeros.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn load_tile<const R: usize>(
        tile: &[[f32; NR]],
        acc: bool,
    ) -> ([__m512; R], [__m512; R]) {
        let mut lo = [_mm512_setzero_ps(); R];
        let mut hi = [_mm512_setzero_ps(); R];
        if acc {
            for i in 0..R {
                // SAFETY: each row holds NR = 32 floats.
                unsafe {
                    lo[i] = _mm512_loadu_ps(tile[i].as_ptr());
                    hi[i] = _mm512_loadu_ps(tile[i].as_ptr().add(16));
                }
            }
        }
        (lo, hi)
    }

    /// Writes accumulators back to the tile's `R` rows.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn store_tile<const R: usize>(
        tile: &mut [[f32; NR]],
        lo: &[__m512; R],
        hi: &[__m512; R],
    ) {
        for i in 0..R {
            // SAFETY: each row holds NR = 32 floats.
            unsafe {
                _mm512_storeu_ps(tile[i].as_mut_ptr(), lo[i]);
                _mm512_storeu_ps(tile[i].as_mut_ptr().add(16), hi[i]);
            }
        }
    }

    /// The register-blocked kernel: `R` rows × 32 columns held in `2R` zmm accumulators.
    #[target_feature(enable = "avx512f")]
    unsafe fn micro<const R: usize>(
        tile: &mut [[f32; NR]],
        a: *const f32,
        lda: usize,
        k: usize,
        b: *const f32,
        acc: bool,
    ) {
        // SAFETY: the caller guarantees `a` has R rows of k and `b` has k rows of NR.
        unsafe {
            let (mut lo, mut hi) = load_tile::<R>(tile, acc);
            for kk in 0..k {
                let b0 = _mm512_loadu_ps(b.add(kk * NR));
                let b1 = _mm512_loadu_ps(b.add(kk * NR + 16));
                for i in 0..R {
                    let x = _mm512_set1_ps(*a.add(i * lda + kk));
                    lo[i] = _mm512_fmadd_ps(x, b0, lo[i]);
                    hi[i] = _mm512_fmadd_ps(x, b1, hi[i]);
                }
            }
            store_tile(tile, &lo, &hi);
        }
    }

    pub(super) unsafe fn micro_bf16_dispatch(
        tile: &mut [[f32; NR]],
        a: *const u32,
        lda: usize,
        kp: usize,
        b: *const u32,
        acc: bool,
    ) {
        // SAFETY: the caller checked the CPU and the bounds.
        unsafe { by_rows!(tile.len(), micro_bf16(tile, a, lda, kp, b, acc)) }
    }

    /// As [`micro`], over bfloat16 pairs: one `vdpbf16ps` covers two steps of the depth.
    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn micro_bf16<const R: usize>(
        tile: &mut [[f32; NR]],
        a: *const u32,
        lda: usize,
        kp: usize,
        b: *const u32,
        acc: bool,
    ) {
        // SAFETY: the caller guarantees `a` has R rows of kp pairs and `b` kp rows of NR.
        unsafe {
            let (mut lo, mut hi) = load_tile::<R>(tile, acc);
            for q in 0..kp {
                let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.add(q * NR).cast()));
                let b1: __m512bh =
                    std::mem::transmute(_mm512_loadu_si512(b.add(q * NR + 16).cast()));
                for i in 0..R {
                    let x: __m512bh =
                        std::mem::transmute(_mm512_set1_epi32(*a.add(i * lda + q) as i32));
                    lo[i] = _mm512_dpbf16_ps(lo[i], x, b0);
                    hi[i] = _mm512_dpbf16_ps(hi[i], x, b1);
                }
            }
            store_tile(tile, &lo, &hi);
        }
    }

    pub(super) unsafe fn micro_i8_dispatch(
        tile: &mut [[i32; NR]],
        a: *const u8,
        lda: usize,
        kq: usize,
        b: *const u32,
    ) {
        // SAFETY: the caller checked the CPU and the bounds.
        unsafe { by_rows!(tile.len(), micro_i8(tile, a, lda, kq, b)) }
    }

    /// The integer kernel: `R` rows × 32 columns of 32-bit sums in `2R` zmm accumulators; one
    /// `vpdpbusd` multiplies four unsigned input bytes by four signed weight bytes per lane
    /// and adds the four products.
    #[target_feature(enable = "avx512f,avx512vnni")]
    unsafe fn micro_i8<const R: usize>(
        tile: &mut [[i32; NR]],
        a: *const u8,
        lda: usize,
        kq: usize,
        b: *const u32,
    ) {
        // SAFETY: the caller guarantees `a` has R rows of 4·kq bytes and `b` kq rows of NR.
        unsafe {
            let mut lo = [_mm512_setzero_si512(); R];
            let mut hi = [_mm512_setzero_si512(); R];
            for q in 0..kq {
                let b0 = _mm512_loadu_si512(b.add(q * NR).cast());
                let b1 = _mm512_loadu_si512(b.add(q * NR + 16).cast());
                for i in 0..R {
                    let x =
                        _mm512_set1_epi32(a.add(i * lda + 4 * q).cast::<i32>().read_unaligned());
                    lo[i] = _mm512_dpbusd_epi32(lo[i], x, b0);
                    hi[i] = _mm512_dpbusd_epi32(hi[i], x, b1);
                }
            }
            for i in 0..R {
                _mm512_storeu_si512(tile[i].as_mut_ptr().cast(), lo[i]);
                _mm512_storeu_si512(tile[i].as_mut_ptr().add(16).cast(), hi[i]);
            }
        }
    }

    /// One row to bfloat16 pairs with `vcvtneps2bf16`, 16 values at a time.
    #[target_feature(enable = "avx512f,avx512bf16,avx512vl")]
    pub(super) unsafe fn convert_row_bf16(row: &[f32], dst: &mut [u32]) {
        assert_eq!(dst.len(), row.len().div_ceil(2));
        let full = row.len() / 16;
        for c in 0..full {
            // SAFETY: 16 floats read and 8 pairs written, inside both slices.
            unsafe {
                let v = _mm512_loadu_ps(row.as_ptr().add(c * 16));
                let h: __m256i = std::mem::transmute(_mm512_cvtneps_pbh(v));
                _mm256_storeu_si256(dst.as_mut_ptr().add(c * 8).cast(), h);
            }
        }
        for (i, d) in dst.iter_mut().enumerate().skip(full * 8) {
            *d = super::bf16_pair(row, i);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Element-wise math. Written as plain loops over lanes so the compiler vectorises them; each
// public function dispatches to a copy compiled for the detected instruction set.

/// e^x for x in [-87, 88], relative error about 2e-7 (range reduction to 2^n·e^r and a
/// degree-6 polynomial), without branches so loops over it vectorise.
#[inline(always)]
fn exp_approx(x: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer
    let x = x.clamp(-87.0, 88.0);
    let t = x.mul_add(std::f32::consts::LOG2_E, SHIFT);
    let n = t - SHIFT;
    let r = n.mul_add(-0.693_145_75, x); // ln 2, high part
    let r = n.mul_add(-1.428_606_8e-6, r); // ln 2, low part
    let p = r.mul_add(1.0 / 720.0, 1.0 / 120.0);
    let p = p.mul_add(r, 1.0 / 24.0);
    let p = p.mul_add(r, 1.0 / 6.0);
    let p = p.mul_add(r, 0.5);
    let p = p.mul_add(r, 1.0);
    let p = p.mul_add(r, 1.0);
    let bits = (t.to_bits() as i32 - SHIFT.to_bits() as i32 + 127) << 23;
    p * f32::from_bits(bits as u32)
}

/// erf(x), absolute error below 2e-7 (Abramowitz & Stegun 7.1.26 form with its published
/// coefficients), branch-free.
#[inline(always)]
fn erf_approx(x: f32) -> f32 {
    let ax = x.abs();
    let t = 1.0 / 0.327_591_1f32.mul_add(ax, 1.0);
    let p = 1.061_405_4f32.mul_add(t, -1.453_152_1);
    let p = p.mul_add(t, 1.421_413_8);
    let p = p.mul_add(t, -0.284_496_74);
    let p = p.mul_add(t, 0.254_829_6);
    let y = 1.0 - p * t * exp_approx(-ax * ax);
    y.copysign(x)
}

#[inline(always)]
fn gelu_scalar(x: f32) -> f32 {
    0.5 * x * (1.0 + erf_approx(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[inline(always)]
fn gelu_impl(x: &mut [f32]) {
    for v in x {
        *v = gelu_scalar(*v);
    }
}

#[inline(always)]
fn softmax_impl(x: &mut [f32], scale: f32) {
    let mut m = [f32::NEG_INFINITY; 16];
    let mut chunks = x.chunks_exact(16);
    for c in &mut chunks {
        for l in 0..16 {
            m[l] = m[l].max(c[l]);
        }
    }
    let mut max = m.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for &v in chunks.remainder() {
        max = max.max(v);
    }
    let shift = max * scale;
    let mut s = [0f32; 16];
    let mut chunks = x.chunks_exact_mut(16);
    for c in &mut chunks {
        for l in 0..16 {
            let e = exp_approx(c[l].mul_add(scale, -shift));
            c[l] = e;
            s[l] += e;
        }
    }
    let mut sum: f32 = s.iter().sum();
    for v in chunks.into_remainder() {
        let e = exp_approx(v.mul_add(scale, -shift));
        *v = e;
        sum += e;
    }
    let inv = 1.0 / sum;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

#[inline(always)]
fn layer_norm_impl(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = x.len() as f32;
    let mut s = [0f32; 16];
    let mut chunks = x.chunks_exact(16);
    for c in &mut chunks {
        for l in 0..16 {
            s[l] += c[l];
        }
    }
    let mean = (s.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()) / n;
    let mut q = [0f32; 16];
    let mut chunks = x.chunks_exact(16);
    for c in &mut chunks {
        for l in 0..16 {
            let d = c[l] - mean;
            q[l] = d.mul_add(d, q[l]);
        }
    }
    let rem: f32 = chunks
        .remainder()
        .iter()
        .map(|v| (v - mean) * (v - mean))
        .sum();
    let var = (q.iter().sum::<f32>() + rem) / n;
    let rstd = 1.0 / (var + eps).sqrt();
    for ((v, g), b) in x.iter_mut().zip(gamma).zip(beta) {
        *v = ((*v - mean) * rstd).mul_add(*g, *b);
    }
}

macro_rules! dispatch {
    // An unsafe function: the caller's contract is `$imp`'s.
    ($(#[$doc:meta])* unsafe $name:ident, $imp:ident, ($($arg:ident : $ty:ty),*)) => {
        $(#[$doc])*
        #[allow(clippy::too_many_arguments)]
        unsafe fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) {
                    // SAFETY: the caller's contract.
                    unsafe { $imp($($arg),*) }
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) {
                    // SAFETY: the caller's contract.
                    unsafe { $imp($($arg),*) }
                }
                match isa() {
                    // SAFETY: the CPU has these features (detected); the rest is the caller's.
                    Isa::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    Isa::Avx2 => return unsafe { avx2($($arg),*) },
                    Isa::Portable => {}
                }
            }
            // SAFETY: the caller's contract.
            unsafe { $imp($($arg),*) }
        }
    };
    ($(#[$doc:meta])* $name:ident, $imp:ident, ($($arg:ident : $ty:ty),*)) => {
        $(#[$doc])*
        pub(crate) fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) { $imp($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) { $imp($($arg),*) }
                match isa() {
                    // SAFETY: the CPU has these features (detected).
                    Isa::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    Isa::Avx2 => return unsafe { avx2($($arg),*) },
                    Isa::Portable => {}
                }
            }
            $imp($($arg),*)
        }
    };
}

dispatch!(
    /// [`quantize_row_impl`] compiled for the detected instruction set.
    quantize_row_into,
    quantize_row_impl,
    (x: &[f32], q: &mut [u8], bias: u8, scale: &mut f32)
);

/// [`bf16_round`] of every value, without branches, so that it vectorises.
#[inline(always)]
fn round_bf16_impl(x: &mut [f32]) {
    for v in x.iter_mut() {
        let b = v.to_bits();
        let nan = (b & 0x7FFF_FFFF) > 0x7F80_0000;
        let tiny = b & 0x7F80_0000 == 0;
        let nearest = b.wrapping_add(0x7FFF + ((b >> 16) & 1)) & 0xFFFF_0000;
        let quiet = (b & 0xFFFF_0000) | 0x0040_0000;
        let r = if nan {
            quiet
        } else if tiny {
            b & 0x8000_0000
        } else {
            nearest
        };
        *v = f32::from_bits(r);
    }
}

dispatch!(
    /// [`tile_impl`] compiled for the detected instruction set. The micro-kernels dispatch on
    /// their own; this is for the work around them (the integer sums' scaling, the bias, the
    /// residual, the copies), which compiled for the baseline x86-64 ran 128 bits at a time and
    /// took a sixth of an int8 pass.
    unsafe tile, tile_impl,
    (l: &PackedLinear, a: Lhs<'_>, r0: usize, rows: usize, k0: usize, p: usize, out: SendPtr,
     epi: Epilogue<'_>)
);
dispatch!(
    /// Every value rounded to bfloat16, in place (as [`bf16_round`]).
    round_bf16_in_place, round_bf16_impl, (x: &mut [f32])
);
dispatch!(
    /// GELU in place (exact-erf form).
    gelu_tile, gelu_impl, (x: &mut [f32])
);
dispatch!(
    /// Softmax in place of `scale · x`.
    softmax, softmax_impl, (x: &mut [f32], scale: f32)
);
dispatch!(
    /// Layer norm of one row in place.
    layer_norm, layer_norm_impl, (x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32)
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buffers_start_on_a_cache_line_and_hold_their_values() {
        fn starts_on_a_line<T: Plain>(a: &Aligned<T>) -> bool {
            (a.as_ptr() as usize).is_multiple_of(64)
        }
        // Lengths that are and are not whole lines, after allocations of other sizes (the
        // allocator's own alignment is 16).
        let mut keep = Vec::new();
        for len in [0usize, 1, 3, 16, 17, 1000, 32_256, 129_024] {
            keep.push(vec![0u8; len % 977 + 1]);
            let f = Aligned::<f32>::zeroed(len);
            assert!(starts_on_a_line(&f), "f32 × {len}");
            assert_eq!(f.len(), len);
            assert!(f.iter().all(|&v| v == 0.0));
            let b = Aligned::filled(len, 128u8);
            assert!(starts_on_a_line(&b) && b.len() == len && b.iter().all(|&v| v == 128));
            let w: Vec<u32> = (0..len as u32).collect();
            let c = Aligned::from_slice(&w);
            assert!(starts_on_a_line(&c));
            assert_eq!(&c[..], &w[..]);
        }
        let mut m = Aligned::<i32>::zeroed(5);
        m[4] = -7;
        assert_eq!(&m[..], &[0, 0, 0, 0, -7]);
    }

    fn erf_reference(x: f64) -> f64 {
        // Series for |x| < 3, good to ~1e-15 there.
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn exp_and_erf_are_accurate() {
        for i in -8000..8000 {
            let x = i as f32 / 100.0;
            let e = exp_approx(x) as f64;
            let want = (x as f64).exp();
            assert!(
                ((e - want) / want).abs() < 4e-7,
                "exp({x}) = {e}, want {want}"
            );
        }
        for i in -300..300 {
            let x = i as f32 / 100.0;
            let got = erf_approx(x) as f64;
            let want = erf_reference(x as f64);
            assert!((got - want).abs() < 3e-7, "erf({x}) = {got}, want {want}");
        }
    }

    fn naive(a: &[f32], w: &[f32], bias: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f64;
                for kk in 0..k {
                    s += a[i * k + kk] as f64 * w[j * k + kk] as f64;
                }
                out[i * n + j] = s as f32 + bias[j];
            }
        }
        out
    }

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn packed_linear_matches_a_naive_product_for_odd_shapes() {
        for &(m, n, k) in &[(1, 32, 7), (13, 40, 33), (130, 96, 64), (5, 1, 3)] {
            let a = pseudo(m * k, 1);
            let w = pseudo(n * k, 2);
            let b = pseudo(n, 3);
            let lin = PackedLinear::new(&w, &b, n, k, Precision::F32);
            let mut out = vec![0f32; m * n];
            lin.forward(&a, m, &mut out, Epilogue::Bias);
            let want = naive(&a, &w, &b, m, n, k);
            for (g, w) in out.iter().zip(&want) {
                assert!((g - w).abs() < 1e-4, "{m}x{n}x{k}: {g} vs {w}");
            }
            let res = pseudo(m * n, 4);
            lin.forward(&a, m, &mut out, Epilogue::BiasResidual(&res));
            for ((g, w), r) in out.iter().zip(&want).zip(&res) {
                assert!((g - (w + r)).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn the_running_micro_kernel_gives_the_portable_kernels_bits() {
        // Every tile height, a depth that is not a multiple of anything, and both a fresh
        // tile and one continued from partial sums.
        let (lda, k) = (45, 41);
        let a = pseudo(MR * lda, 5);
        let b = pseudo(k * NR, 6);
        let start = pseudo(MR * NR, 7);
        for rows in 1..=MR {
            for accumulate in [false, true] {
                let fill = |tile: &mut Vec<[f32; NR]>| {
                    for (row, init) in tile.iter_mut().zip(start.chunks_exact(NR)) {
                        row.copy_from_slice(init);
                    }
                };
                let (mut got, mut want) = (vec![[0f32; NR]; rows], vec![[0f32; NR]; rows]);
                fill(&mut got);
                fill(&mut want);
                micro_acc(&mut got, &a, lda, k, &b, accumulate);
                micro_portable(&mut want, &a, lda, k, &b, accumulate);
                for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
                    assert_eq!(
                        g.to_bits(),
                        w.to_bits(),
                        "{rows} rows, {accumulate}, {:?}",
                        isa()
                    );
                }
            }
        }
    }

    #[test]
    fn rounding_a_slice_to_bf16_rounds_each_value_as_one_alone() {
        let mut values: Vec<f32> = pseudo(1000, 8).iter().map(|v| v * 1e3).collect();
        values.extend([
            0.0,
            -0.0,
            f32::from_bits(1),
            -f32::from_bits(0x0000_8000),
            f32::MAX,
            f32::MIN_POSITIVE,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::from_bits(0x7F80_0001),
            f32::from_bits(0xFFC1_2345),
            1.0 + 1.0 / 256.0,
            1.0 + 3.0 / 256.0,
        ]);
        let mut rounded = values.clone();
        round_bf16_in_place(&mut rounded);
        for (v, r) in values.iter().zip(&rounded) {
            assert_eq!(
                r.to_bits(),
                bf16_round(*v).to_bits(),
                "{v:e} ({:#x})",
                v.to_bits()
            );
        }
    }

    #[test]
    fn bf16_rounds_to_nearest_even_and_flushes_subnormals() {
        assert_eq!(bf16_bits(1.0), 0x3F80);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even neighbour (1).
        assert_eq!(bf16_round(1.0 + 1.0 / 256.0), 1.0);
        assert_eq!(bf16_round(1.0 + 3.0 / 256.0), 1.0 + 4.0 / 256.0);
        assert_eq!(bf16_round(-2.5), -2.5);
        assert_eq!(bf16_round(f32::from_bits(1)), 0.0);
        assert!(bf16_round(f32::NAN).is_nan());
        assert_eq!(bf16_round(f32::INFINITY), f32::INFINITY);
    }

    /// bf16 products of the rounded values, summed in f64.
    fn naive_bf16(a: &[f32], w: &[f32], bias: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let r = |v: &[f32]| v.iter().map(|&x| bf16_round(x)).collect::<Vec<f32>>();
        naive(&r(a), &r(w), bias, m, n, k)
    }

    #[test]
    fn bf16_linear_matches_the_rounded_product_on_both_paths() {
        let mut paths = vec![false];
        if has_bf16() {
            paths.push(true);
        }
        for hardware in paths {
            for &(m, n, k) in &[
                (1, 32, 7),
                (13, 40, 33),
                (130, 96, 64),
                (5, 1, 3),
                (20, 64, 800),
            ] {
                let a = pseudo(m * k, 1);
                let w = pseudo(n * k, 2);
                let b = pseudo(n, 3);
                let lin = PackedLinear::build(&w, &b, n, k, Precision::Bf16, hardware);
                let mut out = vec![0f32; m * n];
                lin.forward(&a, m, &mut out, Epilogue::Bias);
                let want = naive_bf16(&a, &w, &b, m, n, k);
                let exact = naive(&a, &w, &b, m, n, k);
                let mut worst = 0f32;
                for ((g, w), e) in out.iter().zip(&want).zip(&exact) {
                    // Only the order of the f32 additions differs from the f64 sum.
                    assert!((g - w).abs() < 1e-4, "{hardware} {m}x{n}x{k}: {g} vs {w}");
                    worst = worst.max((g - e).abs());
                }
                // And bf16 is not f32: the rounding shows against the exact product.
                if k >= 33 {
                    assert!(worst > 1e-4, "{hardware} {m}x{n}x{k}: bf16 looks exact");
                }
            }
        }
    }

    /// A row quantized the plain way: scale from the largest magnitude, `round_ties_even`.
    fn quantize_reference(x: &[f32]) -> (Vec<i32>, f32) {
        let top = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        if top == 0.0 {
            return (vec![0; x.len()], 0.0);
        }
        let inv = 127.0 / top;
        let q = x
            .iter()
            .map(|v| (v * inv).clamp(-127.0, 127.0).round_ties_even() as i32)
            .collect();
        (q, top / 127.0)
    }

    #[test]
    fn quantizing_a_row_rounds_each_value_to_the_nearest_step() {
        let mut values: Vec<f32> = pseudo(1000, 9).iter().map(|v| v * 37.0).collect();
        values.extend([0.0, -0.0, 1e-30, -1e-30, 18.5, -18.5]);
        for bias in [0u8, 128] {
            let mut q = vec![0u8; values.len()];
            let scale = quantize_row(&values, &mut q, bias);
            let (want, want_scale) = quantize_reference(&values);
            assert_eq!(scale.to_bits(), want_scale.to_bits());
            for ((&g, &w), v) in q.iter().zip(&want).zip(&values) {
                assert_eq!(
                    i32::from(g.wrapping_sub(bias) as i8),
                    w,
                    "{v} (bias {bias})"
                );
            }
        }
        // The largest magnitude is ±127; a zero row has scale 0; a row with an infinity or
        // a NaN gets zeros rather than a scale that wipes out the rest.
        let mut q = vec![0u8; 3];
        assert_eq!(quantize_row(&[2.0, -4.0, 1.0], &mut q, 0), 4.0 / 127.0);
        assert_eq!(
            q.iter().map(|&b| b as i8).collect::<Vec<_>>(),
            [64, -127, 32]
        );
        assert_eq!(quantize_row(&[0.0; 3], &mut q, 128), 0.0);
        assert_eq!(q, [128; 3]);
        for bad in [f32::INFINITY, f32::NAN] {
            assert_eq!(quantize_row(&[1.0, bad, 2.0], &mut q, 128), 0.0);
            assert_eq!(q, [128; 3]);
        }
        // Large finite values are values: their sum would overflow, their scale does not.
        let big = [f32::MAX, -f32::MAX / 2.0, 0.0];
        assert_eq!(quantize_row(&big, &mut q, 0), f32::MAX / 127.0);
        assert_eq!(
            q.iter().map(|&b| b as i8).collect::<Vec<_>>(),
            [127, -64, 0]
        );
    }

    #[test]
    fn the_vnni_kernel_gives_the_portable_kernels_integers() {
        let (kq, lda) = (23, 4 * 23 + 8);
        let a: Vec<u8> = pseudo(MR * lda, 10)
            .iter()
            .map(|v| ((v + 0.5) * 255.0) as u8)
            .collect();
        let b: Vec<u32> = pseudo(kq * NR, 11)
            .iter()
            .map(|v| ((v + 0.5) * 4.29e9) as u32)
            .collect();
        for rows in 1..=MR {
            let (mut got, mut want) = (vec![[7i32; NR]; rows], vec![[-7i32; NR]; rows]);
            micro_i8(&mut got, &a, lda, kq, &b);
            micro_i8_portable(&mut want, &a, lda, kq, &b);
            assert_eq!(got, want, "{rows} rows (VNNI: {})", has_vnni());
        }
    }

    #[test]
    fn int8_linear_is_the_product_of_the_quantized_rows() {
        for &(m, n, k) in &[
            (1, 32, 7),
            (13, 40, 33),
            (130, 96, 64),
            (5, 1, 3),
            (20, 64, 1536),
        ] {
            // Weights and inputs of different sizes per row, as a layer's are.
            let a: Vec<f32> = pseudo(m * k, 1)
                .iter()
                .enumerate()
                .map(|(i, v)| v * (1 + i / k) as f32)
                .collect();
            let w = pseudo(n * k, 2);
            let b = pseudo(n, 3);
            let lin = PackedLinear::new(&w, &b, n, k, Precision::Int8);
            let mut out = vec![0f32; m * n];
            lin.forward(&a, m, &mut out, Epilogue::Bias);
            let exact = naive(&a, &w, &b, m, n, k);
            let (mut worst, mut top) = (0f32, 0f32);
            for i in 0..m {
                let (qa, sa) = quantize_reference(&a[i * k..(i + 1) * k]);
                for j in 0..n {
                    let (qw, sw) = quantize_reference(&w[j * k..(j + 1) * k]);
                    let dot: i32 = qa.iter().zip(&qw).map(|(x, y)| x * y).sum();
                    let want = dot as f32 * (sa * sw) + b[j];
                    let got = out[i * n + j];
                    assert_eq!(got.to_bits(), want.to_bits(), "{m}x{n}x{k} at {i},{j}");
                    worst = worst.max((got - exact[i * n + j]).abs());
                    top = top.max(exact[i * n + j].abs());
                }
            }
            // Close to the exact product, and not it: 8 bits show.
            assert!(worst < 0.03 * top, "{m}x{n}x{k}: off by {worst} of {top}");
            if k >= 33 {
                assert!(worst > 1e-5, "{m}x{n}x{k}: int8 looks exact");
            }
        }
    }

    #[test]
    fn softmax_and_layer_norm() {
        let mut x: Vec<f32> = (0..37).map(|i| i as f32 * 0.3).collect();
        let want: Vec<f64> = {
            let e: Vec<f64> = x.iter().map(|v| (*v as f64 * 0.5).exp()).collect();
            let s: f64 = e.iter().sum();
            e.iter().map(|v| v / s).collect()
        };
        softmax(&mut x, 0.5);
        for (g, w) in x.iter().zip(&want) {
            assert!((*g as f64 - w).abs() < 1e-6);
        }
        let mut y: Vec<f32> = (0..40).map(|i| (i * i) as f32).collect();
        let g = vec![2.0; 40];
        let b = vec![1.0; 40];
        layer_norm(&mut y, &g, &b, 1e-12);
        let mean: f32 = y.iter().sum::<f32>() / 40.0;
        assert!((mean - 1.0).abs() < 1e-4);
    }
}

#[cfg(test)]
mod timing {
    use super::*;
    use std::time::Instant;

    fn ms(reps: usize, mut f: impl FnMut()) -> f64 {
        f();
        let mut v: Vec<f64> = (0..reps)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    #[test]
    #[ignore = "timing, run by hand with --release --ignored --nocapture"]
    fn component_times() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(std::env::var("KT").map_or(1, |v| v.parse().unwrap()))
            .build()
            .unwrap();
        pool.install(|| {
            for precision in [Precision::F32, Precision::Bf16, Precision::Int8] {
                println!(
                    "{precision:?} (hardware bf16: {}, vnni: {})",
                    has_bf16(),
                    has_vnni()
                );
                let (m, k) = (128, 384);
                for n in [384usize, 1152, 1536] {
                    let w = vec![0.01f32; n * k];
                    let lin = PackedLinear::new(&w, &vec![0.0; n], n, k, precision);
                    let a = vec![0.5f32; m * k];
                    let mut out = vec![0f32; m * n];
                    let t = ms(50, || lin.forward(&a, m, &mut out, Epilogue::Bias));
                    println!(
                        "linear 128x{k}->{n}: {t:.3} ms, {:.1} GFLOP/s",
                        2.0 * (m * n * k) as f64 / t / 1e6
                    );
                    let t = ms(50, || lin.forward(&a, m, &mut out, Epilogue::BiasGelu));
                    println!("linear+gelu 128x{k}->{n}: {t:.3} ms");
                }
                let w = vec![0.01f32; 384 * 1536];
                let lin = PackedLinear::new(&w, &vec![0.0; 384], 384, 1536, precision);
                let a = vec![0.5f32; 128 * 1536];
                let mut out = vec![0f32; 128 * 384];
                let t = ms(50, || lin.forward(&a, 128, &mut out, Epilogue::Bias));
                println!(
                    "linear 128x1536->384: {t:.3} ms, {:.1} GFLOP/s",
                    2.0 * (128 * 384 * 1536) as f64 / t / 1e6
                );
                let mut x = vec![0.3f32; 128 * 1536];
                let t = ms(50, || gelu_tile(&mut x));
                println!("gelu 128x1536: {t:.3} ms");
                let mut x = vec![0.3f32; 128 * 128 * 12];
                let t = ms(50, || x.chunks_mut(128).for_each(|r| softmax(r, 0.2)));
                println!("softmax 12x128x128: {t:.3} ms");
                let mut x = vec![0.3f32; 128 * 384];
                let g = vec![1.0; 384];
                let t = ms(50, || {
                    x.chunks_mut(384).for_each(|r| layer_norm(r, &g, &g, 1e-12))
                });
                println!("layer norm 128x384: {t:.3} ms");
            }
        });
    }
}
