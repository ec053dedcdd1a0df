//! Privacy amplification by Toeplitz hashing over GF(2): the reconciled key of `n` bits is
//! multiplied by a random `l x n` binary Toeplitz matrix, leaving an `l`-bit final key.
//!
//! Must never depend on `physics`, `protocol`, `estimation` or `report`: it sees bits, a seed
//! and an output length, nothing else. The output length is decided by the caller (from the
//! finite-key analysis); this module only hashes.
//!
//! # Convention
//!
//! Input `x` has `n` bits, the seed `s` has `n + l - 1` bits and the output `y` has `l` bits:
//!
//! ```text
//! T[i][j] = s[i - j + n - 1]          (0 <= i < l, 0 <= j < n)
//! y[i]    = XOR over j of T[i][j] & x[j]
//! ```
//!
//! Seed bit `n - 1` is the main diagonal, bit 0 the top-right corner, bit `n + l - 2` the
//! bottom-left corner. Equivalently `y[i]` is coefficient `n - 1 + i` of the GF(2)
//! polynomial product `x(z) * s(z)`: only a middle slice of the product is needed.
//! [`toeplitz_hash_reference`] follows this definition literally.
//!
//! # Why Toeplitz hashing
//!
//! The family `{x -> T_s x}` over all seeds is two-universal (Krawczyk, "LFSR-based hashing
//! and authentication", CRYPTO 1994; Mansour, Nisan, Tiwari 1990; the notion is Carter and
//! Wegman's, 1979), so by the leftover hash lemma the output is close to uniform given the
//! eavesdropper's side information as long as `l` stays below the smooth min-entropy by a
//! security margin. The seed needs only `n + l - 1` random bits and may be public; here it
//! comes from the run's deterministic stream
//! (`rng::stream(seed, Purpose::PrivacyAmplification, block_idx)`, see [`toeplitz_seed`]).
//!
//! # Method: additive FFT over GF(2^64), exact by construction
//!
//! The product `x(z) * s(z)` over GF(2) is computed with the additive FFT of Gao and Mateer
//! ("Additive fast Fourier transforms over finite fields", IEEE Trans. Inf. Theory 56, 2010)
//! on a Cantor basis of GF(2^64):
//!
//! 1. Both operands are cut into 32-bit chunks; a chunk is a GF(2) polynomial of degree < 32,
//!    read as an element of GF(2^64) = GF(2)\[t\] / (t^64 + t^4 + t^3 + t + 1).
//! 2. The chunk sequences are polynomials over GF(2^64); they are evaluated on a subspace of
//!    `N = 2^m >= (chunks of x) + (chunks of s) - 1` points, multiplied pointwise and
//!    interpolated back. Evaluation at `N` distinct points determines a polynomial of degree
//!    `< N` uniquely, so the chunk-level product is exact.
//! 3. Each product coefficient is a sum of products of two degree-<32 polynomials, so it has
//!    degree <= 62 < 64: the field reduction never acts on it, and it *is* the carry-less
//!    product of the chunks. Overlapping the coefficients at 32-bit offsets gives the GF(2)
//!    product bit for bit.
//!
//! There is no rounding anywhere, so there is no exactness margin to argue: the result is
//! exact for every size. That is the main reason this method was preferred to a
//! floating-point FFT, which puts one key bit on each f64 point and must round integer
//! coefficients up to `n` (2^27 at 1.28e8 bits): its a-priori error bound (of order
//! `u * log2(N) * ||x||_2 * ||s||_1`, `u = 2^-53`) reaches about 0.1 at that size, too close
//! to 1/2 to be a proof without a run-time check and a fallback. It is also denser: 32 key
//! bits per transform point instead of one, so `N` is about 16x smaller than the f64
//! transform length for the same block (the full product is needed, `2n + l` bits, instead
//! of the `n + l` of a cyclic middle product, because the additive FFT's wrap-around is not
//! a cyclic shift). The bench measures one f64 FFT of `n` points beside the hash: the f64
//! method needs three transforms of at least `n + l` points.
//!
//! The transform has two stages. The first rewrites the coefficients in the "novel"
//! polynomial basis of Lin, Chung and Han (FOCS 2014) with word XORs only, in
//! `O(N log N log log N)` by Taylor expansions at the two-term subspace polynomials
//! `z^(2^(2^j)) + z` of the Cantor basis (submodule `novel`, which also keeps the plain
//! `O(N log^2 N)` recursion at `z^2 + z` as its test reference; the switch cut the XOR
//! stage from over half of the time to about a quarter). That stage is GF(2)-linear bit by
//! bit, so it runs once for both operands, the input in the low and the seed in the high 32
//! bits of each word. The second stage is `O(N log N)` butterflies with field
//! multiplications (in place, the Cantor basis needs no scaling). Every block of one level
//! shares its twiddles, so blocks up to 2^11 points (in L1) run level by level, the lowest
//! three levels fused in one register per 8 points; longer blocks recurse into their
//! quarters and then do their top two levels in one pass (radix 4), which halves the passes
//! over memory. When the product length is just above a power of two, the input is cut
//! into 2 to 4 column ranges, each a smaller Toeplitz product with a slice of the same seed,
//! and the partial hashes are XORed (at l = n/8: three transforms of N/4 instead of one of
//! N). Long arrays share all passes among rayon threads; the result does not depend on the
//! thread count.
//!
//! Field multiplication uses VPCLMULQDQ on 512-bit registers (eight products per pair of
//! instructions) or scalar PCLMULQDQ, whichever the CPU has (detected at run time), else a
//! portable shift-and-XOR routine with the same results. The small unrolled XOR kernels of
//! the basis conversion also get a 512-bit version (eight columns per register). The
//! `unsafe` this needs (calling `#[target_feature]` functions, unaligned vector loads) is
//! confined to the `clmul` submodule; on this module's bench the portable multiplication
//! is 25-50x slower.
//!
//! # Backends and `QKDSIM_PA_BACKEND`
//!
//! [`Backend`] names the three implementations; all give the same bits (tests compare them
//! at 2^20 input bits):
//!
//! | value of `QKDSIM_PA_BACKEND` | backend | needs |
//! |---|---|---|
//! | unset, empty or `auto` | the fastest this CPU has | — |
//! | `avx512` | [`Backend::Avx512`]: VPCLMULQDQ on 512-bit registers, AVX-512 XOR kernels | x86-64 with AVX-512F, VPCLMULQDQ and PCLMULQDQ |
//! | `clmul` | [`Backend::Clmul`]: scalar PCLMULQDQ, no AVX-512 instruction | x86-64 with PCLMULQDQ |
//! | `portable` | [`Backend::Portable`]: shift-and-XOR in plain Rust, no intrinsic | nothing |
//!
//! The variable ([`BACKEND_ENV_VAR`]) is read once per process, at the first
//! [`selected_backend`] call (which [`ToeplitzHasher::new`] makes). Any other value, or a
//! backend this CPU lacks, is an [`Error::Environment`] naming the variable, the value, the
//! allowed values and what this CPU supports: there is no silent fallback, so a CI job that
//! forces the portable backend really runs it. The library does no I/O, so the error
//! reaches the user as a `Result`: from [`selected_backend`], which the command line calls
//! before any work (exit code 2), and from every [`ToeplitzHasher::hash`] of a hasher made
//! by [`ToeplitzHasher::new`]. [`ToeplitzHasher::with_backend`] ignores the variable.
//!
//! # Speed anchors
//!
//! Published CPU figures this module is measured against (`benches/privacy_amplification.rs`):
//! 71 Mbit/s input throughput at 128 Mbit on a multi-core CPU (Tang et al., "High-speed and
//! large-scale privacy amplification scheme for quantum key distribution", Sci. Rep. 9, 15733,
//! 2019) and 108 Mbit/s on 1e8-bit blocks in a commercial-grade 10 Mb/s QKD system (Yuan et
//! al., J. Lightwave Technol. 36, 3427, 2018).

use crate::bits::BitVec;
use crate::error::{Error, Result};
use std::sync::OnceLock;

mod novel;

/// The environment variable that forces a privacy-amplification backend (module docs).
pub const BACKEND_ENV_VAR: &str = "QKDSIM_PA_BACKEND";

/// The values [`BACKEND_ENV_VAR`] accepts, as the error messages list them.
const ALLOWED_VALUES: &str = "auto (or unset), avx512, clmul, portable";

/// The field arithmetic of a [`ToeplitzHasher`]. Every backend gives the same bits; they
/// differ in speed and in the CPU instructions they need (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// VPCLMULQDQ on 512-bit registers, eight field multiplications at a time, and the
    /// AVX-512 XOR kernels of the basis conversion (x86-64 with AVX-512F, VPCLMULQDQ and
    /// PCLMULQDQ, detected at run time). `QKDSIM_PA_BACKEND=avx512`.
    Avx512,
    /// Scalar PCLMULQDQ carry-less multiply, no AVX-512 instruction (x86-64 with
    /// PCLMULQDQ, detected at run time). `QKDSIM_PA_BACKEND=clmul`.
    Clmul,
    /// Shift-and-XOR multiplication in plain Rust, any CPU. `QKDSIM_PA_BACKEND=portable`.
    Portable,
}

impl Backend {
    /// Every backend, fastest first.
    pub const ALL: [Backend; 3] = [Backend::Avx512, Backend::Clmul, Backend::Portable];

    /// The name `QKDSIM_PA_BACKEND` uses for this backend.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Avx512 => "avx512",
            Backend::Clmul => "clmul",
            Backend::Portable => "portable",
        }
    }

    /// The CPU features this backend needs, in words.
    pub fn requirement(self) -> &'static str {
        match self {
            Backend::Avx512 => "an x86-64 CPU with AVX-512F, VPCLMULQDQ and PCLMULQDQ",
            Backend::Clmul => "an x86-64 CPU with PCLMULQDQ",
            Backend::Portable => "nothing",
        }
    }

    /// True when this CPU can run the backend (run-time detection, cached by std).
    pub fn is_supported(self) -> bool {
        match self {
            Backend::Avx512 => clmul::wide_available(),
            Backend::Clmul => clmul::available(),
            Backend::Portable => true,
        }
    }

    /// The fastest backend this CPU supports.
    pub fn fastest() -> Backend {
        Backend::ALL
            .into_iter()
            .find(|b| b.is_supported())
            .unwrap_or(Backend::Portable)
    }

    /// The backends this CPU supports, fastest first.
    pub fn supported() -> Vec<Backend> {
        Backend::ALL
            .into_iter()
            .filter(|b| b.is_supported())
            .collect()
    }

    /// The XOR kernels of the basis conversion that go with this backend.
    fn kernels(self) -> novel::Kernels {
        match self {
            Backend::Avx512 => novel::Kernels::Avx512,
            Backend::Clmul | Backend::Portable => novel::Kernels::Portable,
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The backend [`ToeplitzHasher::new`] uses: the one `QKDSIM_PA_BACKEND` names, or the
/// fastest this CPU supports when it is unset, empty or `auto`. The variable is read once
/// per process; later calls return the same answer.
///
/// The command line calls this before any work, so that a bad value ends the program with
/// its message instead of aborting every block.
///
/// # Errors
/// [`Error::Environment`] when the value is not one of `auto`, `avx512`, `clmul`,
/// `portable` (or not valid UTF-8), or names a backend this CPU lacks. The message names
/// the variable, the value, the allowed values and the backends this CPU supports.
pub fn selected_backend() -> Result<Backend> {
    static SELECTED: OnceLock<std::result::Result<Backend, String>> = OnceLock::new();
    SELECTED
        .get_or_init(|| {
            let value = std::env::var_os(BACKEND_ENV_VAR).map(|v| {
                v.into_string()
                    .map_err(|v| format!("{} (not valid UTF-8)", v.to_string_lossy()))
            });
            resolve_backend(value, Backend::is_supported)
        })
        .clone()
        .map_err(Error::Environment)
}

/// [`selected_backend`] without the environment and the CPU: `value` is the variable's
/// value (`None` when unset, `Err` with a printable form when not UTF-8) and `supported`
/// says which backends the CPU has. Separate so that tests can cover every case.
fn resolve_backend(
    value: Option<std::result::Result<String, String>>,
    supported: impl Fn(Backend) -> bool,
) -> std::result::Result<Backend, String> {
    let fastest = || {
        Backend::ALL
            .into_iter()
            .find(|&b| supported(b))
            .unwrap_or(Backend::Portable)
    };
    let value = match value {
        None => return Ok(fastest()),
        Some(Ok(v)) => v,
        Some(Err(shown)) => {
            return Err(format!(
                "{BACKEND_ENV_VAR}=\"{shown}\" is not a privacy-amplification backend; \
                 allowed values: {ALLOWED_VALUES}"
            ));
        }
    };
    if value.is_empty() || value == "auto" {
        return Ok(fastest());
    }
    let Some(backend) = Backend::ALL.into_iter().find(|b| b.name() == value) else {
        return Err(format!(
            "{BACKEND_ENV_VAR}=\"{value}\" is not a privacy-amplification backend; \
             allowed values: {ALLOWED_VALUES}"
        ));
    };
    if !supported(backend) {
        let here: Vec<&str> = Backend::ALL
            .into_iter()
            .filter(|&b| supported(b))
            .map(Backend::name)
            .collect();
        return Err(format!(
            "{BACKEND_ENV_VAR}=\"{value}\" asks for a privacy-amplification backend this CPU \
             cannot run: it needs {}; this CPU supports {} (allowed values: {ALLOWED_VALUES}; \
             unset the variable or set it to auto for the fastest)",
            backend.requirement(),
            here.join(", ")
        ));
    }
    Ok(backend)
}

/// Blocks at least this long (in field elements) split their two recursive halves across
/// rayon threads; below it the halves run on the calling thread.
const PARALLEL_MIN_LEN: usize = 1 << 15;

/// Transforms up to this length run their butterflies level by level (the block fits in L1).
const BUTTERFLY_ITERATIVE_MAX_LEN: usize = 1 << 11;

/// Bits per chunk: a product of two chunks has degree <= 62 and fits a field element unreduced.
const CHUNK_BITS: usize = 32;

/// Largest supported transform: 2^MAX_LOG_LEN chunks (2^40 chunks is far beyond any memory).
const MAX_LOG_LEN: usize = 40;

/// Reusable Toeplitz hasher: holds the Cantor basis of GF(2^64), the arithmetic backend
/// and the work buffers, which grow to the largest block seen.
///
/// Cheap to create (microseconds); one per thread or per pipeline stage is fine. Results do
/// not depend on the backend or on the number of rayon threads.
#[derive(Debug, Clone)]
pub struct ToeplitzHasher {
    /// `cantor[i]` is beta_{i+1}: beta_1 = 1, beta_{i+1}^2 + beta_{i+1} = beta_i.
    cantor: Vec<u64>,
    backend: Backend,
    /// The [`selected_backend`] error a hasher from [`ToeplitzHasher::new`] reports from
    /// every `hash` (then `backend` is portable and never used).
    setting_error: Option<String>,
    input_buf: Vec<u64>,
    seed_buf: Vec<u64>,
    scratch: Vec<u64>,
}

impl Default for ToeplitzHasher {
    fn default() -> Self {
        ToeplitzHasher::new()
    }
}

impl ToeplitzHasher {
    /// A hasher with the backend of [`selected_backend`]: the one `QKDSIM_PA_BACKEND`
    /// forces, else the fastest this CPU supports. Never fails itself: when the variable is
    /// invalid, every [`ToeplitzHasher::hash`] returns that [`Error::Environment`].
    pub fn new() -> Self {
        match selected_backend() {
            Ok(backend) => ToeplitzHasher::build(backend),
            Err(e) => ToeplitzHasher {
                setting_error: Some(e.to_string()),
                ..ToeplitzHasher::build(Backend::Portable)
            },
        }
    }

    /// A hasher with the given backend, whatever `QKDSIM_PA_BACKEND` says.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when this CPU cannot run `backend` (see
    /// [`Backend::is_supported`]).
    pub fn with_backend(backend: Backend) -> Result<Self> {
        if !backend.is_supported() {
            return Err(Error::InvalidArgument(format!(
                "privacy amplification: the {backend} backend needs {}, which this CPU is not",
                backend.requirement()
            )));
        }
        Ok(ToeplitzHasher::build(backend))
    }

    /// A hasher restricted to the portable field arithmetic (no carry-less multiply
    /// instruction, no intrinsic at all). Same results, slower; for tests and benchmarks.
    pub fn portable() -> Self {
        ToeplitzHasher::build(Backend::Portable)
    }

    /// A hasher using scalar PCLMULQDQ even when the 512-bit VPCLMULQDQ path is available,
    /// or `None` without PCLMULQDQ. Same results; for tests and benchmarks.
    pub fn scalar_clmul() -> Option<Self> {
        ToeplitzHasher::with_backend(Backend::Clmul).ok()
    }

    /// `backend` must be supported: every kernel entry asserts it again before its `unsafe`.
    fn build(backend: Backend) -> Self {
        ToeplitzHasher {
            cantor: cantor_basis(MAX_LOG_LEN + 1),
            backend,
            setting_error: None,
            input_buf: Vec::new(),
            seed_buf: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The field arithmetic this hasher uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// True when field multiplications use the CPU's carry-less multiply instruction.
    pub fn uses_clmul(&self) -> bool {
        self.backend != Backend::Portable
    }

    /// Hashes the `n`-bit `input` to `output_bits` bits with the Toeplitz matrix of `seed`
    /// (convention in the module docs). `seed.len()` must be `n + output_bits - 1`.
    ///
    /// Returns an empty key when `output_bits == 0` or the input is empty. Large blocks use
    /// the current rayon pool for the two halves of each transform; the result is the same
    /// for any number of threads.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the seed length is wrong; [`Error::Environment`] for
    /// a hasher from [`ToeplitzHasher::new`] when `QKDSIM_PA_BACKEND` is invalid.
    pub fn hash(&mut self, input: &BitVec, seed: &BitVec, output_bits: usize) -> Result<BitVec> {
        if let Some(e) = &self.setting_error {
            return Err(Error::Environment(e.clone()));
        }
        let n = input.len();
        check_seed_len(n, seed.len(), output_bits)?;
        if n == 0 || output_bits == 0 {
            return Ok(BitVec::new());
        }
        if transform_len(n, output_bits).trailing_zeros() as usize > MAX_LOG_LEN {
            return Err(Error::InvalidArgument(format!(
                "privacy amplification: block of {n} bits is too large (at most 2^{} bits)",
                MAX_LOG_LEN + 4
            )));
        }
        Ok(self.hash_in_pieces(input, seed, output_bits, best_piece_count(n, output_bits)))
    }

    /// Splits the input into `pieces` column ranges, hashes each with the matching slice of
    /// the seed and XORs the results. Column range `j0..j1` of T is itself an `l x (j1 - j0)`
    /// Toeplitz matrix, with seed bits `n - j1 .. n - j0 + l - 1` in the same convention.
    /// Pays off when the full product is just above a power of two: at l = n/8 three pieces
    /// need transforms of 3 x N/4 points instead of one of N.
    fn hash_in_pieces(
        &mut self,
        input: &BitVec,
        seed: &BitVec,
        output_bits: usize,
        pieces: usize,
    ) -> BitVec {
        let n = input.len();
        if pieces <= 1 {
            return self.hash_one(input, seed, output_bits);
        }
        let piece_len = n.div_ceil(pieces);
        let mut out = BitVec::zeros(output_bits);
        let mut start = 0;
        while start < n {
            let end = (start + piece_len).min(n);
            let width = end - start;
            let part = self.hash_one(
                &bit_range(input, start, width),
                &bit_range(seed, n - end, width + output_bits - 1),
                output_bits,
            );
            for (o, p) in out.words_mut().iter_mut().zip(part.words()) {
                *o ^= p;
            }
            start = end;
        }
        out
    }

    /// One transform-based product; `n >= 1`, `output_bits >= 1`, seed length checked.
    fn hash_one(&mut self, input: &BitVec, seed: &BitVec, output_bits: usize) -> BitVec {
        let n = input.len();
        let len = transform_len(n, output_bits);
        // The first stage of the forward transform (Taylor expansions, see
        // `Transform::convert`) only XORs whole elements, so it acts on each bit of a word
        // separately: input chunks ride in the low 32 bits and seed chunks in the high 32
        // bits of one array, and that stage runs once for both operands.
        load_packed_chunks(&mut self.input_buf, input, seed, len);
        // The conversion writes every scratch element before reading it: no need to clear.
        self.scratch.resize(len, 0);
        let ctx = Transform {
            cantor: &self.cantor,
            backend: self.backend,
        };
        let kernels = self.backend.kernels();
        if novel::to_novel_basis(&mut self.input_buf, &mut self.scratch, kernels) {
            std::mem::swap(&mut self.input_buf, &mut self.scratch);
        }
        split_packed(&mut self.input_buf, &mut self.seed_buf);
        let (input_buf, seed_buf) = (&mut self.input_buf, &mut self.seed_buf);
        join_if(
            len >= PARALLEL_MIN_LEN,
            || ctx.evaluate(input_buf),
            || ctx.evaluate(seed_buf),
        );
        ctx.pointwise_mul(input_buf, seed_buf);
        ctx.unevaluate(input_buf);
        if novel::from_novel_basis(&mut self.input_buf, &mut self.scratch, kernels) {
            std::mem::swap(&mut self.input_buf, &mut self.scratch);
        }
        extract_product_bits(&self.input_buf, n - 1, output_bits)
    }
}

/// Transform length for an `n`-bit input and `l` output bits: a power of two at least the
/// number of 32-bit chunks of the full product, and at least 2 so that chunks are loaded
/// in (input word, seed word) pairs.
fn transform_len(n: usize, l: usize) -> usize {
    let product_chunks = n.div_ceil(CHUNK_BITS) + (n + l - 1).div_ceil(CHUNK_BITS) - 1;
    product_chunks.next_power_of_two().max(2)
}

/// The number of input pieces (1 to 4) with the least estimated work, sum of N log2 N.
fn best_piece_count(n: usize, l: usize) -> usize {
    let cost = |pieces: usize| {
        let len = transform_len(n.div_ceil(pieces), l);
        pieces as f64 * len as f64 * (len as f64).log2().max(1.0)
    };
    (1..=4.min(n))
        .min_by(|&a, &b| cost(a).total_cmp(&cost(b)))
        .unwrap_or(1)
}

/// Bits `start..start + len` of `v` as a new vector.
fn bit_range(v: &BitVec, start: usize, len: usize) -> BitVec {
    let words = v.words();
    let (first, shift) = (start / 64, start % 64);
    let out = (0..len.div_ceil(64))
        .map(|k| {
            let lo = words[first + k] >> shift;
            let hi = match words.get(first + k + 1) {
                Some(&w) if shift != 0 => w << (64 - shift),
                _ => 0,
            };
            lo | hi
        })
        .collect();
    BitVec::from_words(out, len)
}

/// Draws the `n + l - 1` seed bits of an `l x n` Toeplitz matrix from `rng` (64 bits per
/// `next_u64` call, LSB first). `n + l - 1` is taken as 0 when `n + l == 0`.
///
/// In the simulator the generator is `rng::stream(seed, Purpose::PrivacyAmplification,
/// block_idx)`, so each block's matrix is reproducible; in a real link the seed is public.
pub fn toeplitz_seed(n: usize, l: usize, rng: &mut impl rand::Rng) -> BitVec {
    let len = (n + l).saturating_sub(1);
    let words = (0..len.div_ceil(64)).map(|_| rng.next_u64()).collect();
    BitVec::from_words(words, len)
}

/// The rows of the `l x n` Toeplitz matrix of a seed, as [`ToeplitzHasher::hash`] applies
/// it: output bit `i` of a key is the parity of the key AND [`ToeplitzRows::row`] `i`. For
/// the eavesdropper's accounting (`postprocess::leakage`), which needs the final key's bits
/// as linear functions of the reconciled key.
///
/// With the seed `s` reversed, `r[m] = s[n + l - 2 - m]`, the convention of the module docs
/// `T[i][j] = s[i - j + n - 1]` reads `T[i][j] = r[l - 1 - i + j]`: row `i` is the slice of
/// `n` bits of `r` starting at `l - 1 - i`, so every row is a shifted word copy.
#[derive(Debug, Clone)]
pub struct ToeplitzRows {
    seed: BitVec,
    reversed: BitVec,
    n: usize,
    l: usize,
}

impl ToeplitzRows {
    /// The matrix hashing `n` input bits to `l` output bits with `seed`
    /// (`seed.len()` must be `n + l - 1`, as for [`ToeplitzHasher::hash`]).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the seed length is wrong.
    pub fn new(seed: &BitVec, n: usize, l: usize) -> Result<ToeplitzRows> {
        check_seed_len(n, seed.len(), l)?;
        let len = seed.len();
        let mut reversed = BitVec::zeros(len);
        for m in 0..len {
            if seed.get(len - 1 - m) {
                reversed.set(m, true);
            }
        }
        Ok(ToeplitzRows {
            seed: seed.clone(),
            reversed,
            n,
            l,
        })
    }

    /// Input bits n (the columns).
    pub fn input_bits(&self) -> usize {
        self.n
    }

    /// Output bits l (the rows).
    pub fn output_bits(&self) -> usize {
        self.l
    }

    /// Row `i` as `n` bits: bit `j` is `T[i][j]`.
    ///
    /// # Panics
    /// If `i >= self.output_bits()`.
    pub fn row(&self, i: usize) -> BitVec {
        let mut words = vec![0; self.n.div_ceil(64)];
        self.row_words_into(i, &mut words);
        BitVec::from_words(words, self.n)
    }

    /// Column `j` written into `out` (at least `ceil(l / 64)` words): bit `i` is `T[i][j] =
    /// s[i + n - 1 - j]`, so a column is the `l` seed bits from `n - 1 - j` on. Bits past `l`
    /// are cleared, words past the column left alone.
    ///
    /// # Panics
    /// If `j >= self.input_bits()` or `out` is too short.
    pub fn column_words_into(&self, j: usize, out: &mut [u64]) {
        assert!(j < self.n, "Toeplitz column {j} of {}", self.n);
        copy_bits(self.seed.words(), self.n - 1 - j, self.l, out);
    }

    /// Row `i` written into `out` (at least `ceil(n / 64)` words; bits past `n` are cleared,
    /// words past the row are left alone).
    ///
    /// # Panics
    /// If `i >= self.output_bits()` or `out` is too short.
    pub fn row_words_into(&self, i: usize, out: &mut [u64]) {
        assert!(i < self.l, "Toeplitz row {i} of {}", self.l);
        copy_bits(self.reversed.words(), self.l - 1 - i, self.n, out);
    }
}

/// Bits `start..start + len` of the bit string `src` (words, LSB first) into the first
/// `ceil(len / 64)` words of `out`, bits past `len` cleared.
///
/// # Panics
/// If `out` is too short.
fn copy_bits(src: &[u64], start: usize, len: usize, out: &mut [u64]) {
    let words = len.div_ceil(64);
    assert!(
        out.len() >= words,
        "buffer of {} words, {words} needed",
        out.len()
    );
    let (q, s) = (start / 64, start % 64);
    for (k, o) in out[..words].iter_mut().enumerate() {
        let lo = src.get(q + k).copied().unwrap_or(0) >> s;
        let hi = if s == 0 {
            0
        } else {
            src.get(q + k + 1).copied().unwrap_or(0) << (64 - s)
        };
        *o = lo | hi;
    }
    if !len.is_multiple_of(64) {
        out[words - 1] &= (1u64 << (len % 64)) - 1;
    }
}

/// The plain `O(n * l)` Toeplitz product, bit by bit from the definition
/// `y[i] = XOR_j s[i - j + n - 1] & x[j]`. For tests; same contract as
/// [`ToeplitzHasher::hash`] except that a wrong seed length panics.
///
/// # Panics
/// If `seed.len() != input.len() + output_bits - 1` (for a non-empty matrix).
pub fn toeplitz_hash_reference(input: &BitVec, seed: &BitVec, output_bits: usize) -> BitVec {
    let n = input.len();
    if let Err(e) = check_seed_len(n, seed.len(), output_bits) {
        panic!("{e}");
    }
    if n == 0 || output_bits == 0 {
        return BitVec::new();
    }
    let mut out = BitVec::zeros(output_bits);
    for i in 0..output_bits {
        let mut bit = false;
        for j in 0..n {
            bit ^= seed.get(i + n - 1 - j) & input.get(j);
        }
        out.set(i, bit);
    }
    out
}

fn check_seed_len(n: usize, seed_len: usize, output_bits: usize) -> Result<()> {
    let expected = (n + output_bits).saturating_sub(1);
    if seed_len != expected {
        return Err(Error::InvalidArgument(format!(
            "privacy amplification: Toeplitz seed has {seed_len} bits, but an input of {n} bits \
             hashed to {output_bits} bits needs n + l - 1 = {expected}"
        )));
    }
    Ok(())
}

/// Splits `input` and `seed` into 32-bit chunks, zero-padded to `len` chunks: element `i`
/// holds input chunk `i` in its low half and seed chunk `i` in its high half.
fn load_packed_chunks(buf: &mut Vec<u64>, input: &BitVec, seed: &BitVec, len: usize) {
    use rayon::prelude::*;
    const LOW: u64 = 0xFFFF_FFFF;
    const PIECE: usize = 1 << 14;
    // Every element is written below, so the old contents need no clearing.
    buf.resize(len, 0);
    let (iw, sw) = (input.words(), seed.words());
    let fill = |(p, piece): (usize, &mut [u64])| {
        for (i, pair) in piece.chunks_exact_mut(2).enumerate() {
            let k = p * PIECE / 2 + i;
            let x = iw.get(k).copied().unwrap_or(0);
            let s = sw.get(k).copied().unwrap_or(0);
            pair[0] = (x & LOW) | (s << 32);
            pair[1] = (x >> 32) | (s & !LOW);
        }
    };
    if len >= PARALLEL_MIN_LEN {
        buf.par_chunks_mut(PIECE).enumerate().for_each(fill);
    } else {
        buf.chunks_mut(PIECE).enumerate().for_each(fill);
    }
}

/// Moves the high halves of `packed` to `high` (same length) and clears them in `packed`.
fn split_packed(packed: &mut [u64], high: &mut Vec<u64>) {
    use rayon::prelude::*;
    high.clear();
    high.resize(packed.len(), 0);
    packed
        .par_chunks_mut(1 << 16)
        .zip(high.par_chunks_mut(1 << 16))
        .for_each(|(p, h)| {
            for (x, y) in p.iter_mut().zip(h.iter_mut()) {
                *y = *x >> 32;
                *x &= 0xFFFF_FFFF;
            }
        });
}

/// Bits `start..start + count` of the GF(2) product whose 32-bit-offset coefficients (each of
/// degree <= 62) are `coefficients`.
fn extract_product_bits(coefficients: &[u64], start: usize, count: usize) -> BitVec {
    // Product words first_word..=last_word cover the requested bits; coefficient t adds to
    // product bits 32t..32t+63, i.e. product words t/2 and t/2 + 1.
    let first_word = start / 64;
    let last_word = (start + count - 1) / 64;
    let n_words = last_word - first_word + 1;
    let mut product = vec![0u64; n_words + 1];
    let first_coef = (2 * first_word).saturating_sub(1);
    let last_coef = (2 * last_word + 1).min(coefficients.len() - 1);
    for (t, &c) in coefficients
        .iter()
        .enumerate()
        .take(last_coef + 1)
        .skip(first_coef)
    {
        let bit = t * CHUNK_BITS;
        let word = bit / 64;
        let shift = bit % 64;
        if word >= first_word {
            product[word - first_word] ^= c << shift;
        }
        if shift != 0 && word + 1 >= first_word && word + 1 - first_word < product.len() {
            product[word + 1 - first_word] ^= c >> (64 - shift);
        }
    }
    let offset = start % 64;
    let out_words = count.div_ceil(64);
    let words = (0..out_words)
        .map(|k| {
            let lo = product[k] >> offset;
            let hi = if offset == 0 {
                0
            } else {
                product[k + 1] << (64 - offset)
            };
            lo | hi
        })
        .collect();
    BitVec::from_words(words, count)
}

/// Matching pieces of the four quarters of a block, as rayon's zips nest them.
type Quarters<'a> = (
    ((&'a mut [u64], &'a mut [u64]), &'a mut [u64]),
    &'a mut [u64],
);

/// Runs `f` on the four quarters of `a`, two by two on the rayon pool for long arrays.
fn for_quarters(a: &mut [u64], f: impl Fn(&mut [u64]) + Sync) {
    let parallel = a.len() >= PARALLEL_MIN_LEN;
    let (h0, h1) = a.split_at_mut(a.len() / 2);
    let half = |h: &mut [u64]| {
        let (x, y) = h.split_at_mut(h.len() / 2);
        join_if(parallel, || f(x), || f(y));
    };
    join_if(parallel, || half(h0), || half(h1));
}

fn join_if(parallel: bool, a: impl FnOnce() + Send, b: impl FnOnce() + Send) {
    if parallel {
        rayon::join(a, b);
    } else {
        a();
        b();
    }
}

/// Reduction of a 128-bit carry-less product modulo t^64 + t^4 + t^3 + t + 1.
#[inline(always)]
fn reduce(lo: u64, hi: u64) -> u64 {
    // hi * t^64 = hi * (t^4 + t^3 + t + 1); the bits pushed past t^63 by that product
    // (at most 4 of them, since hi has degree <= 62) are folded once more the same way.
    let overflow = (hi >> 63) ^ (hi >> 61) ^ (hi >> 60);
    let h = hi ^ overflow;
    lo ^ h ^ (h << 1) ^ (h << 3) ^ (h << 4)
}

/// Portable GF(2^64) multiplication.
#[inline]
fn gf_mul_portable(a: u64, b: u64) -> u64 {
    let (mut lo, mut hi) = (0u64, 0u64);
    for i in 0..64 {
        let mask = 0u64.wrapping_sub((b >> i) & 1);
        lo ^= (a << i) & mask;
        if i != 0 {
            hi ^= (a >> (64 - i)) & mask;
        }
    }
    reduce(lo, hi)
}

/// Cantor basis beta_1 .. beta_count of GF(2^64): beta_1 = 1 and beta_{i+1} is a root of
/// z^2 + z = beta_i. With this basis, z -> z^2 + z maps span(beta_2..beta_k) onto
/// span(beta_1..beta_{k-1}), which makes the additive FFT recursion self-similar.
fn cantor_basis(count: usize) -> Vec<u64> {
    // z -> z^2 + z is GF(2)-linear; build an echelon basis of its image, remembering which
    // combination of unit vectors produced each row, then solve by elimination.
    let mut rows: [(u64, u64); 64] = [(0, 0); 64];
    for b in 0..64 {
        let unit = 1u64 << b;
        let mut v = gf_mul_portable(unit, unit) ^ unit;
        let mut combination = unit;
        for bit in (0..64).rev() {
            if (v >> bit) & 1 == 0 {
                continue;
            }
            if rows[bit].0 == 0 {
                rows[bit] = (v, combination);
                break;
            }
            v ^= rows[bit].0;
            combination ^= rows[bit].1;
        }
    }
    let mut basis = vec![1u64];
    while basis.len() < count {
        let mut target = *basis.last().expect("basis starts with 1");
        let mut solution = 0u64;
        for bit in (0..64).rev() {
            if (target >> bit) & 1 == 1 {
                assert!(
                    rows[bit].0 != 0,
                    "Cantor basis: z^2 + z = beta has no solution"
                );
                target ^= rows[bit].0;
                solution ^= rows[bit].1;
            }
        }
        basis.push(solution);
    }
    basis
}

/// One additive FFT configuration (basis and backend); the transforms are free functions of
/// the buffers so that the two forward transforms can run on two threads.
#[derive(Clone, Copy)]
struct Transform<'a> {
    cantor: &'a [u64],
    backend: Backend,
}

impl Transform<'_> {
    /// Evaluates the polynomial with coefficients `a` (length 2^k) at the 2^k points of
    /// span(beta_1..beta_k), in place. Output position p holds the value at
    /// sum over bits i of p of beta_{k-i} (a bit-reversed order, shared with `inverse`).
    /// `scratch` needs `a.len()` elements.
    #[cfg(test)]
    fn forward(&self, a: &mut [u64], scratch: &mut [u64]) {
        if novel::to_novel_basis(a, scratch, self.backend.kernels()) {
            a.copy_from_slice(scratch);
        }
        self.evaluate(a);
    }

    /// Inverse of [`Transform::forward`]: values back to coefficients.
    #[cfg(test)]
    fn inverse(&self, a: &mut [u64], scratch: &mut [u64]) {
        self.unevaluate(a);
        if novel::from_novel_basis(a, scratch, self.backend.kernels()) {
            a.copy_from_slice(scratch);
        }
    }

    /// Second stage of [`Transform::forward`]: the butterflies, bottom-up. Every block of a
    /// level uses the same twiddles (both halves are evaluated on the same subspace), so
    /// short arrays run level by level over all their blocks at once; long ones recurse
    /// into their halves first, which keeps the work on each half in cache.
    fn evaluate(&self, a: &mut [u64]) {
        let len = a.len();
        if len <= BUTTERFLY_ITERATIVE_MAX_LEN {
            let first = self.low_levels(a, false);
            for log_len in first..=len.trailing_zeros() as usize {
                self.level(a, log_len, false);
            }
            return;
        }
        if self.backend == Backend::Avx512 {
            // Four quarters, then their two top levels in one pass.
            for_quarters(a, |q| self.evaluate(q));
            self.radix4(a, false);
            return;
        }
        let (lo, hi) = a.split_at_mut(len / 2);
        join_if(
            len >= PARALLEL_MIN_LEN,
            || self.evaluate(lo),
            || self.evaluate(hi),
        );
        // For u in span(beta_2..beta_k) with y = u^2 + u: f(u) = f0(y) + u f1(y) and
        // f(u + 1) = f(u) + f1(y).
        self.butterflies(lo, hi, len.trailing_zeros() as usize, false);
    }

    /// The top two levels of a block of `a.len()` (at least 32) in one pass, with the
    /// 512-bit backend; on the rayon pool for long blocks.
    fn radix4(&self, a: &mut [u64], inverse: bool) {
        use rayon::prelude::*;
        let log_len = a.len().trailing_zeros() as usize;
        let q = a.len() / 4;
        let inner = self.steps(log_len - 1);
        let outer = self.steps(log_len);
        let cq = self.twiddle(log_len, q);
        let parallel = a.len() >= PARALLEL_MIN_LEN;
        let (h0, h1) = a.split_at_mut(2 * q);
        let (q0, q1) = h0.split_at_mut(q);
        let (q2, q3) = h1.split_at_mut(q);
        let piece = (q / 16).max(1 << 12).min(q);
        let run = |(k, (((a0, a1), a2), a3)): (usize, Quarters)| {
            let j0 = k * piece;
            let start = (self.twiddle(log_len - 1, j0), self.twiddle(log_len, j0));
            clmul::wide_radix4([a0, a1, a2, a3], j0, &inner, &outer, start, cq, inverse);
        };
        if parallel {
            q0.par_chunks_mut(piece)
                .zip(q1.par_chunks_mut(piece))
                .zip(q2.par_chunks_mut(piece))
                .zip(q3.par_chunks_mut(piece))
                .enumerate()
                .for_each(run);
        } else {
            q0.chunks_mut(piece)
                .zip(q1.chunks_mut(piece))
                .zip(q2.chunks_mut(piece))
                .zip(q3.chunks_mut(piece))
                .enumerate()
                .for_each(run);
        }
    }

    /// Twiddle of position `p` at level `log_len`: the sum over bits i of p of
    /// beta_{log_len - i}.
    fn twiddle(&self, log_len: usize, p: usize) -> u64 {
        (0..usize::BITS as usize)
            .filter(|&i| (p >> i) & 1 == 1)
            .fold(0, |acc, i| acc ^ self.cantor[log_len - 1 - i])
    }

    /// Inverse of [`Transform::evaluate`]: the butterflies undone, top-down.
    fn unevaluate(&self, a: &mut [u64]) {
        let len = a.len();
        if len <= BUTTERFLY_ITERATIVE_MAX_LEN {
            let first = if self.backend == Backend::Avx512 && len >= 8 {
                4
            } else {
                1
            };
            for log_len in (first..=len.trailing_zeros() as usize).rev() {
                self.level(a, log_len, true);
            }
            if first == 4 {
                self.low_levels(a, true);
            }
            return;
        }
        if self.backend == Backend::Avx512 {
            self.radix4(a, true);
            for_quarters(a, |q| self.unevaluate(q));
            return;
        }
        let (lo, hi) = a.split_at_mut(len / 2);
        self.butterflies(lo, hi, len.trailing_zeros() as usize, true);
        join_if(
            len >= PARALLEL_MIN_LEN,
            || self.unevaluate(lo),
            || self.unevaluate(hi),
        );
    }

    /// With the 512-bit backend and at least 8 elements, levels 1 to 3 in one pass over `a`
    /// (returns 4, the next level); otherwise nothing (returns 1).
    fn low_levels(&self, a: &mut [u64], inverse: bool) -> usize {
        if self.backend != Backend::Avx512 || a.len() < 8 {
            return 1;
        }
        let twiddles = |log_len: usize| {
            // Level log_len's twiddles for positions 0..half, in the lanes of each lower
            // element (lanes 0-1 and 4-5 at level 2, lanes 0-3 at level 3).
            let steps = self.steps(log_len);
            let half = 1usize << (log_len - 1);
            let mut tw = [0u64; 8];
            for j in 1..half {
                tw[j] = tw[j - 1] ^ steps[j.trailing_zeros() as usize];
            }
            if log_len == 2 {
                tw[4] = tw[0];
                tw[5] = tw[1];
            }
            tw
        };
        clmul::wide_low_levels(a, &twiddles(2), &twiddles(3), inverse);
        4
    }

    /// The butterflies of level `log_len` on every `2^log_len`-long block of `a`.
    fn level(&self, a: &mut [u64], log_len: usize, inverse: bool) {
        if log_len == 1 {
            // Length 2: f(0) = g0, f(1) = g0 + g1 (the twiddle of position 0 is 0).
            for pair in a.chunks_exact_mut(2) {
                pair[1] ^= pair[0];
            }
            return;
        }
        let steps = self.steps(log_len);
        let half = 1usize << (log_len - 1);
        match self.backend {
            Backend::Avx512 => clmul::wide_level(a, half, &steps, inverse),
            Backend::Clmul => clmul::level(a, half, &steps, inverse),
            Backend::Portable => {
                for block in a.chunks_exact_mut(2 * half) {
                    let (lo, hi) = block.split_at_mut(half);
                    if inverse {
                        butterflies_inverse_with(lo, hi, &steps, gf_mul_portable);
                    } else {
                        butterflies_forward_with(lo, hi, &steps, gf_mul_portable);
                    }
                }
            }
        }
    }

    /// Twiddle increments of level `log_len`: the twiddle of position j is the sum over bits
    /// i of j of beta_{log_len - i}. Walking j in order, going from j - 1 to j flips bits
    /// 0..=tz(j), so the twiddle changes by steps[tz(j)] = beta_{log_len} + ... +
    /// beta_{log_len - tz(j)}.
    fn steps(&self, log_len: usize) -> [u64; MAX_LOG_LEN + 1] {
        let mut steps = [0u64; MAX_LOG_LEN + 1];
        let mut acc = 0u64;
        for (i, step) in steps.iter_mut().enumerate().take(log_len - 1) {
            acc ^= self.cantor[log_len - 1 - i];
            *step = acc;
        }
        steps
    }

    /// The butterflies of level `log_len` on the halves `lo`, `hi` (each 2^(log_len - 1)).
    fn butterflies(&self, lo: &mut [u64], hi: &mut [u64], log_len: usize, inverse: bool) {
        let steps = self.steps(log_len);
        match (self.backend, inverse) {
            (Backend::Avx512, inverse) => clmul::wide_butterflies(lo, hi, &steps, inverse),
            (Backend::Clmul, false) => clmul::butterflies_forward(lo, hi, &steps),
            (Backend::Clmul, true) => clmul::butterflies_inverse(lo, hi, &steps),
            (Backend::Portable, false) => butterflies_forward_with(lo, hi, &steps, gf_mul_portable),
            (Backend::Portable, true) => butterflies_inverse_with(lo, hi, &steps, gf_mul_portable),
        }
    }

    /// `a[i] *= b[i]` in GF(2^64).
    fn pointwise_mul(&self, a: &mut [u64], b: &[u64]) {
        use rayon::prelude::*;
        const CHUNK: usize = 1 << 14;
        let backend = self.backend;
        a.par_chunks_mut(CHUNK)
            .zip(b.par_chunks(CHUNK))
            .for_each(|(a, b)| match backend {
                Backend::Avx512 => clmul::wide_pointwise_mul(a, b),
                Backend::Clmul => clmul::pointwise_mul(a, b),
                Backend::Portable => a
                    .iter_mut()
                    .zip(b)
                    .for_each(|(x, &y)| *x = gf_mul_portable(*x, y)),
            });
    }
}

#[inline(always)]
fn butterflies_forward_with(
    lo: &mut [u64],
    hi: &mut [u64],
    steps: &[u64],
    mul: impl Fn(u64, u64) -> u64,
) {
    let mut twiddle = 0u64;
    for (j, (a, b)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
        if j != 0 {
            twiddle ^= steps[j.trailing_zeros() as usize];
        }
        *a ^= mul(twiddle, *b);
        *b ^= *a;
    }
}

#[inline(always)]
fn butterflies_inverse_with(
    lo: &mut [u64],
    hi: &mut [u64],
    steps: &[u64],
    mul: impl Fn(u64, u64) -> u64,
) {
    let mut twiddle = 0u64;
    for (j, (a, b)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
        if j != 0 {
            twiddle ^= steps[j.trailing_zeros() as usize];
        }
        *b ^= *a;
        *a ^= mul(twiddle, *b);
    }
}

/// Carry-less multiply path. The only `unsafe` in the crate besides the tag kernel of
/// `postprocess::verify`, of two kinds:
///
/// - calling a `#[target_feature]` function: every `pub` wrapper below starts with
///   `assert!` on the run-time detection of the features it enables, so a backend the CPU
///   lacks panics with a message instead of executing an illegal instruction (and
///   [`Backend::is_supported`] keeps the hasher from choosing one);
/// - unaligned 512-bit loads and stores through raw pointers: every function holding one
///   `assert!`s, at its entry, each slice length the pointer arithmetic relies on (equal
///   lengths of the paired slices, multiples of eight elements), and the `// SAFETY:`
///   comment at the access derives the bound from those asserts. No access needs alignment
///   (`loadu`/`storeu` only), so no alignment is assumed anywhere.
///
/// The `pub` wrappers also assert the slice shapes their kernel's *results* rely on (a
/// length that is a multiple of the block, for instance), so a caller's mistake fails
/// loudly instead of leaving a tail unprocessed. These checks are release-mode `assert!`s,
/// a few compares per call outside the loops.
///
/// PCLMULQDQ makes a field multiplication a handful of instructions instead of a 64-step
/// loop; it is what makes the transform fast (see the bench's `portable` rows).
#[allow(unsafe_code)]
mod clmul {
    #[cfg(target_arch = "x86_64")]
    mod imp {
        use super::super::novel::{Lanes, PLAN_4, PLAN_8, PLAN_16, PLAN_32};
        use super::super::{butterflies_forward_with, butterflies_inverse_with, reduce};
        use seq_macro::seq;
        use std::arch::x86_64::{
            __m128i, __m512i, _mm_clmulepi64_si128, _mm_cvtsi64_si128, _mm_cvtsi128_si64,
            _mm_unpackhi_epi64, _mm512_clmulepi64_epi128, _mm512_loadu_si512,
            _mm512_mask_xor_epi64, _mm512_permutexvar_epi64, _mm512_set1_epi64,
            _mm512_setzero_si512, _mm512_slli_epi64, _mm512_srli_epi64, _mm512_storeu_si512,
            _mm512_unpackhi_epi64, _mm512_unpacklo_epi64, _mm512_xor_si512,
        };

        /// GF(2^64) product with one carry-less multiply and a shift-XOR reduction.
        #[target_feature(enable = "pclmulqdq,sse2")]
        #[inline]
        fn mul(a: u64, b: u64) -> u64 {
            let p: __m128i =
                _mm_clmulepi64_si128(_mm_cvtsi64_si128(a as i64), _mm_cvtsi64_si128(b as i64), 0);
            let lo = _mm_cvtsi128_si64(p) as u64;
            let hi = _mm_cvtsi128_si64(_mm_unpackhi_epi64(p, p)) as u64;
            reduce(lo, hi)
        }

        pub fn available() -> bool {
            std::arch::is_x86_feature_detected!("pclmulqdq")
        }

        #[target_feature(enable = "pclmulqdq,sse2")]
        fn forward_impl(lo: &mut [u64], hi: &mut [u64], steps: &[u64]) {
            butterflies_forward_with(lo, hi, steps, |a, b| mul(a, b));
        }

        #[target_feature(enable = "pclmulqdq,sse2")]
        fn inverse_impl(lo: &mut [u64], hi: &mut [u64], steps: &[u64]) {
            butterflies_inverse_with(lo, hi, steps, |a, b| mul(a, b));
        }

        #[target_feature(enable = "pclmulqdq,sse2")]
        fn pointwise_impl(a: &mut [u64], b: &[u64]) {
            for (x, &y) in a.iter_mut().zip(b) {
                *x = mul(*x, y);
            }
        }

        /// True when the CPU can multiply eight field elements per instruction pair
        /// (VPCLMULQDQ on 512-bit registers).
        pub fn wide_available() -> bool {
            available()
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("vpclmulqdq")
        }

        /// Eight GF(2^64) products: even and odd lanes through two carry-less multiplies,
        /// then the same reduction as [`mul`], lane-wise.
        #[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq")]
        #[inline]
        fn mul8(a: __m512i, b: __m512i) -> __m512i {
            let even = _mm512_clmulepi64_epi128(a, b, 0x00);
            let odd = _mm512_clmulepi64_epi128(a, b, 0x11);
            let lo = _mm512_unpacklo_epi64(even, odd);
            let hi = _mm512_unpackhi_epi64(even, odd);
            let overflow = _mm512_xor_si512(
                _mm512_xor_si512(_mm512_srli_epi64(hi, 63), _mm512_srli_epi64(hi, 61)),
                _mm512_srli_epi64(hi, 60),
            );
            let h = _mm512_xor_si512(hi, overflow);
            let folded = _mm512_xor_si512(
                _mm512_xor_si512(h, _mm512_slli_epi64(h, 1)),
                _mm512_xor_si512(_mm512_slli_epi64(h, 3), _mm512_slli_epi64(h, 4)),
            );
            _mm512_xor_si512(lo, folded)
        }

        /// Butterflies eight positions at a time. Positions j..j+8 (j a multiple of 8) have
        /// twiddles tw(j) + tw(r), r < 8, because the twiddle is linear in the bits of j.
        #[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq")]
        fn wide_impl(lo: &mut [u64], hi: &mut [u64], steps: &[u64], inverse: bool) {
            assert_eq!(lo.len(), hi.len(), "butterfly halves of unequal length");
            let len = lo.len();
            if len < 8 {
                if inverse {
                    butterflies_inverse_with(lo, hi, steps, |a, b| mul(a, b));
                } else {
                    butterflies_forward_with(lo, hi, steps, |a, b| mul(a, b));
                }
                return;
            }
            wide_run(lo, hi, steps, low_lanes(steps), inverse);
        }

        /// Twiddle offsets tw(r) of positions r = 0..8 within a group of eight, one per lane.
        #[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq")]
        fn low_lanes(steps: &[u64]) -> __m512i {
            let mut low = [0u64; 8];
            for r in 1..8 {
                low[r] = low[r - 1] ^ steps[r.trailing_zeros() as usize];
            }
            // SAFETY: `low` is a local [u64; 8]: the unaligned load reads exactly its 64 bytes.
            unsafe { _mm512_loadu_si512(low.as_ptr().cast()) }
        }

        /// The butterflies of `lo`, `hi` (equal lengths, multiples of 8) eight at a time,
        /// with the lane offsets `low` of [`low_lanes`].
        #[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq")]
        fn wide_run(lo: &mut [u64], hi: &mut [u64], steps: &[u64], low: __m512i, inverse: bool) {
            // The raw accesses below rely on `hi` being as long as `lo`; the multiple of 8
            // is what makes the loop cover every position.
            let len = lo.len();
            assert_eq!(hi.len(), len, "butterfly halves of unequal length");
            assert_eq!(
                len % 8,
                0,
                "butterfly half of {len} elements, not a multiple of 8"
            );
            let mut twiddle = 0u64;
            let mut j = 0;
            while j + 8 <= len {
                if j != 0 {
                    // From j - 8 to j, bits 3..=tz(j) flip.
                    twiddle ^= steps[j.trailing_zeros() as usize] ^ steps[2];
                }
                let w = _mm512_xor_si512(_mm512_set1_epi64(twiddle as i64), low);
                // SAFETY: j + 8 <= len == lo.len() == hi.len() (asserted at entry): the eight
                // elements at j of each half are in bounds; the accesses are unaligned.
                unsafe {
                    let pa = lo.as_mut_ptr().add(j);
                    let pb = hi.as_mut_ptr().add(j);
                    let mut a = _mm512_loadu_si512(pa.cast());
                    let mut b = _mm512_loadu_si512(pb.cast());
                    if inverse {
                        b = _mm512_xor_si512(b, a);
                        a = _mm512_xor_si512(a, mul8(w, b));
                    } else {
                        a = _mm512_xor_si512(a, mul8(w, b));
                        b = _mm512_xor_si512(b, a);
                    }
                    _mm512_storeu_si512(pa.cast(), a);
                    _mm512_storeu_si512(pb.cast(), b);
                }
                j += 8;
            }
        }

        #[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq")]
        fn wide_pointwise_impl(a: &mut [u64], b: &[u64]) {
            // The raw reads of `b` rely on it being as long as `a`.
            let len = a.len();
            assert_eq!(b.len(), len, "pointwise factors of unequal length");
            let mut j = 0;
            while j + 8 <= len {
                // SAFETY: j + 8 <= len == a.len() == b.len() (asserted at entry): the eight
                // elements at j of both slices are in bounds; the accesses are unaligned.
                unsafe {
                    let pa = a.as_mut_ptr().add(j);
                    let x = _mm512_loadu_si512(pa.cast());
                    let y = _mm512_loadu_si512(b.as_ptr().add(j).cast());
                    _mm512_storeu_si512(pa.cast(), mul8(x, y));
                }
                j += 8;
            }
            for k in j..len {
                a[k] = mul(a[k], b[k]);
            }
        }

        /// One level with `half >= 8` on every block: the eight-lane twiddle offsets are
        /// the same for every block, so they are computed once.
        #[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq")]
        fn wide_level_impl(a: &mut [u64], half: usize, steps: &[u64], inverse: bool) {
            assert!(
                half.is_power_of_two() && a.len().is_multiple_of(2 * half),
                "level of half-length {half} on {} elements",
                a.len()
            );
            if half < 8 {
                for block in a.chunks_exact_mut(2 * half) {
                    let (lo, hi) = block.split_at_mut(half);
                    wide_impl(lo, hi, steps, inverse);
                }
                return;
            }
            let low = low_lanes(steps);
            for block in a.chunks_exact_mut(2 * half) {
                let (lo, hi) = block.split_at_mut(half);
                wide_run(lo, hi, steps, low, inverse);
            }
        }

        /// Two levels at once on the quarters `q0..q3` of a block (positions `j0..` of
        /// each quarter): level L-1 pairs (q0, q1) and (q2, q3) with the inner twiddles,
        /// level L pairs (q0, q2) at positions j and (q1, q3) at j + Q with the outer ones
        /// (`tw(j + Q) = tw(j) + tw(Q)`, `cq = tw(Q)`). Halves the passes over memory.
        #[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq")]
        #[allow(clippy::too_many_arguments)]
        fn wide_radix4_impl(
            quarters: [&mut [u64]; 4],
            j0: usize,
            inner: &[u64],
            outer: &[u64],
            start: (u64, u64),
            cq: u64,
            inverse: bool,
        ) {
            let [q0, q1, q2, q3] = quarters;
            // The raw accesses below rely on the four quarters having q0's length; the
            // multiples of 8 make the loop cover every position and keep the twiddle steps
            // (bits 3.. of j flip from j - 8 to j) right.
            let len = q0.len();
            assert!(
                q1.len() == len && q2.len() == len && q3.len() == len,
                "radix-4 quarters of unequal lengths {len}, {}, {}, {}",
                q1.len(),
                q2.len(),
                q3.len()
            );
            assert!(
                len.is_multiple_of(8) && j0.is_multiple_of(8),
                "radix-4 quarters of {len} elements at position {j0}: not multiples of 8"
            );
            let (low_in, low_out) = (low_lanes(inner), low_lanes(outer));
            let shift_q = _mm512_set1_epi64(cq as i64);
            let (mut t_in, mut t_out) = start;
            let mut k = 0;
            while k + 8 <= len {
                let j = j0 + k;
                if k != 0 {
                    let tz = j.trailing_zeros() as usize;
                    t_in ^= inner[tz] ^ inner[2];
                    t_out ^= outer[tz] ^ outer[2];
                }
                let w_in = _mm512_xor_si512(_mm512_set1_epi64(t_in as i64), low_in);
                let w_out = _mm512_xor_si512(_mm512_set1_epi64(t_out as i64), low_out);
                let w_out_q = _mm512_xor_si512(w_out, shift_q);
                // SAFETY: k + 8 <= len, and every quarter is `len` long (asserted at entry):
                // the eight elements at k of each quarter are in bounds; unaligned accesses.
                unsafe {
                    let p = [
                        q0.as_mut_ptr().add(k),
                        q1.as_mut_ptr().add(k),
                        q2.as_mut_ptr().add(k),
                        q3.as_mut_ptr().add(k),
                    ];
                    let mut x0 = _mm512_loadu_si512(p[0].cast());
                    let mut x1 = _mm512_loadu_si512(p[1].cast());
                    let mut x2 = _mm512_loadu_si512(p[2].cast());
                    let mut x3 = _mm512_loadu_si512(p[3].cast());
                    if inverse {
                        x3 = _mm512_xor_si512(x3, x1);
                        x1 = _mm512_xor_si512(x1, mul8(w_out_q, x3));
                        x2 = _mm512_xor_si512(x2, x0);
                        x0 = _mm512_xor_si512(x0, mul8(w_out, x2));
                        x3 = _mm512_xor_si512(x3, x2);
                        x2 = _mm512_xor_si512(x2, mul8(w_in, x3));
                        x1 = _mm512_xor_si512(x1, x0);
                        x0 = _mm512_xor_si512(x0, mul8(w_in, x1));
                    } else {
                        x0 = _mm512_xor_si512(x0, mul8(w_in, x1));
                        x1 = _mm512_xor_si512(x1, x0);
                        x2 = _mm512_xor_si512(x2, mul8(w_in, x3));
                        x3 = _mm512_xor_si512(x3, x2);
                        x0 = _mm512_xor_si512(x0, mul8(w_out, x2));
                        x2 = _mm512_xor_si512(x2, x0);
                        x1 = _mm512_xor_si512(x1, mul8(w_out_q, x3));
                        x3 = _mm512_xor_si512(x3, x1);
                    }
                    _mm512_storeu_si512(p[0].cast(), x0);
                    _mm512_storeu_si512(p[1].cast(), x1);
                    _mm512_storeu_si512(p[2].cast(), x2);
                    _mm512_storeu_si512(p[3].cast(), x3);
                }
                k += 8;
            }
        }

        /// Two butterfly levels on four quarters (see `wide_radix4_impl`); the quarters
        /// have one length, a multiple of 8, and `j0` is a multiple of 8 (all asserted).
        #[allow(clippy::too_many_arguments)]
        pub fn wide_radix4(
            quarters: [&mut [u64]; 4],
            j0: usize,
            inner: &[u64],
            outer: &[u64],
            start: (u64, u64),
            cq: u64,
            inverse: bool,
        ) {
            assert!(
                wide_available(),
                "AVX-512 kernel called without CPU support"
            );
            // SAFETY: the CPU supports avx512f, vpclmulqdq and pclmulqdq (asserted above);
            // the kernel asserts the quarter lengths its raw accesses rely on.
            unsafe { wide_radix4_impl(quarters, j0, inner, outer, start, cq, inverse) }
        }

        /// Levels 1 to 3 (blocks of 2, 4 and 8) on every 8-element block of `a`, in one
        /// register: `tw2` and `tw3` hold the twiddles of levels 2 and 3 in the lanes of the
        /// lower half of each butterfly (level 1 has twiddle 0). Within a block, level 2
        /// pairs lanes (0,2), (1,3), (4,6), (5,7) and level 3 pairs lanes (i, i + 4).
        #[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq")]
        fn wide_low_levels_impl(a: &mut [u64], tw2: &[u64; 8], tw3: &[u64; 8], inverse: bool) {
            // The blocks below are exact 8-element chunks; a tail would be left untouched.
            assert_eq!(a.len() % 8, 0, "{} elements, not a multiple of 8", a.len());
            // SAFETY: each unaligned load reads exactly the 64 bytes of an [u64; 8] (the two
            // twiddle arrays, typed by reference, and array temporaries that live to the end
            // of the statement).
            let (w2, w3, up1, down2, up2, down3, up3) = unsafe {
                (
                    _mm512_loadu_si512(tw2.as_ptr().cast()),
                    _mm512_loadu_si512(tw3.as_ptr().cast()),
                    _mm512_loadu_si512([0u64, 0, 2, 2, 4, 4, 6, 6].as_ptr().cast()),
                    _mm512_loadu_si512([2u64, 3, 2, 3, 6, 7, 6, 7].as_ptr().cast()),
                    _mm512_loadu_si512([0u64, 1, 0, 1, 4, 5, 4, 5].as_ptr().cast()),
                    _mm512_loadu_si512([4u64, 5, 6, 7, 4, 5, 6, 7].as_ptr().cast()),
                    _mm512_loadu_si512([0u64, 1, 2, 3, 0, 1, 2, 3].as_ptr().cast()),
                )
            };
            // Lanes of the lower (`a ^= t b`) and upper (`b ^= a`) elements of each level.
            const HI1: u8 = 0xAA;
            const LO2: u8 = 0x33;
            const HI2: u8 = 0xCC;
            const LO3: u8 = 0x0F;
            const HI3: u8 = 0xF0;
            for block in a.chunks_exact_mut(8) {
                // SAFETY: `block` comes from chunks_exact_mut(8): exactly 8 u64 in bounds;
                // the load is unaligned.
                let mut v = unsafe { _mm512_loadu_si512(block.as_ptr().cast()) };
                if inverse {
                    v = _mm512_mask_xor_epi64(v, HI3, v, _mm512_permutexvar_epi64(up3, v));
                    let t = mul8(w3, _mm512_permutexvar_epi64(down3, v));
                    v = _mm512_mask_xor_epi64(v, LO3, v, t);
                    v = _mm512_mask_xor_epi64(v, HI2, v, _mm512_permutexvar_epi64(up2, v));
                    let t = mul8(w2, _mm512_permutexvar_epi64(down2, v));
                    v = _mm512_mask_xor_epi64(v, LO2, v, t);
                    v = _mm512_mask_xor_epi64(v, HI1, v, _mm512_permutexvar_epi64(up1, v));
                } else {
                    v = _mm512_mask_xor_epi64(v, HI1, v, _mm512_permutexvar_epi64(up1, v));
                    let t = mul8(w2, _mm512_permutexvar_epi64(down2, v));
                    v = _mm512_mask_xor_epi64(v, LO2, v, t);
                    v = _mm512_mask_xor_epi64(v, HI2, v, _mm512_permutexvar_epi64(up2, v));
                    let t = mul8(w3, _mm512_permutexvar_epi64(down3, v));
                    v = _mm512_mask_xor_epi64(v, LO3, v, t);
                    v = _mm512_mask_xor_epi64(v, HI3, v, _mm512_permutexvar_epi64(up3, v));
                }
                // SAFETY: as for the load: the 8 u64 of `block`, unaligned.
                unsafe { _mm512_storeu_si512(block.as_mut_ptr().cast(), v) };
            }
        }

        /// Levels 1 to 3 of the butterflies on every 8-element block of `a` (eight lanes);
        /// `a.len()` is a multiple of 8 (asserted).
        pub fn wide_low_levels(a: &mut [u64], tw2: &[u64; 8], tw3: &[u64; 8], inverse: bool) {
            assert!(
                wide_available(),
                "AVX-512 kernel called without CPU support"
            );
            // SAFETY: the CPU supports avx512f, vpclmulqdq and pclmulqdq (asserted above);
            // the kernel asserts the length it relies on.
            unsafe { wide_low_levels_impl(a, tw2, tw3, inverse) }
        }

        #[target_feature(enable = "pclmulqdq,sse2")]
        fn level_impl(a: &mut [u64], half: usize, steps: &[u64], inverse: bool) {
            assert!(
                half > 0 && a.len().is_multiple_of(2 * half),
                "level of half-length {half} on {} elements",
                a.len()
            );
            for block in a.chunks_exact_mut(2 * half) {
                let (lo, hi) = block.split_at_mut(half);
                if inverse {
                    inverse_impl(lo, hi, steps);
                } else {
                    forward_impl(lo, hi, steps);
                }
            }
        }

        /// Applies a [`SmallPlan`](super::super::novel) to `$len` lanes held in 512-bit
        /// registers, every op written out. Each element is reached through its own
        /// bounds-checked index (`$a[I]`, a constant below the length the caller matched),
        /// so nothing relies on the layout of the slice beyond one [u64; 8] per element.
        macro_rules! zmm_plan {
            ($a:ident, $inverse:ident, $plan:path, $len:literal, $ops:literal) => {{
                let mut x = [_mm512_setzero_si512(); $len];
                if $inverse {
                    seq!(I in 0..$len {
                        // SAFETY: `$a[I].0` is a [u64; 8]: the unaligned load reads exactly
                        // its 64 bytes.
                        x[$plan.perm[I] as usize] =
                            unsafe { _mm512_loadu_si512($a[I].0.as_ptr().cast()) };
                    });
                    seq!(K in 0..$ops {
                        let (d, s) = $plan.ops[$ops - 1 - K];
                        x[d as usize] = _mm512_xor_si512(x[d as usize], x[s as usize]);
                    });
                    seq!(I in 0..$len {
                        // SAFETY: as above, the 64 bytes of `$a[I].0`, unaligned store.
                        unsafe { _mm512_storeu_si512($a[I].0.as_mut_ptr().cast(), x[I]) };
                    });
                } else {
                    seq!(I in 0..$len {
                        // SAFETY: as above.
                        x[I] = unsafe { _mm512_loadu_si512($a[I].0.as_ptr().cast()) };
                    });
                    seq!(K in 0..$ops {
                        let (d, s) = $plan.ops[K];
                        x[d as usize] = _mm512_xor_si512(x[d as usize], x[s as usize]);
                    });
                    seq!(I in 0..$len {
                        // SAFETY: as above.
                        unsafe {
                            _mm512_storeu_si512(
                                $a[I].0.as_mut_ptr().cast(),
                                x[$plan.perm[I] as usize],
                            )
                        };
                    });
                }
            }};
        }

        /// The plan matching `a.len()` (4, 8, 16 or 32; nothing for 0 to 2), or false for any
        /// other length. Every access is inside the matched length (see `zmm_plan`).
        #[target_feature(enable = "avx512f")]
        fn lanes_small_impl(a: &mut [Lanes], inverse: bool) -> bool {
            match a.len() {
                0..=2 => {}
                4 => zmm_plan!(a, inverse, PLAN_4, 4, 2),
                8 => zmm_plan!(a, inverse, PLAN_8, 8, 12),
                16 => zmm_plan!(a, inverse, PLAN_16, 16, 48),
                32 => zmm_plan!(a, inverse, PLAN_32, 32, 160),
                _ => return false,
            }
            true
        }

        /// The novel-basis conversion of a short tile of lanes, compiled for AVX-512. Any
        /// length is accepted: the kernel dispatches on it (false when it has no plan).
        pub fn lanes_small(a: &mut [Lanes], inverse: bool) -> bool {
            assert!(
                wide_available(),
                "AVX-512 kernel called without CPU support"
            );
            // SAFETY: the CPU supports avx512f (asserted above); the kernel only touches
            // elements below the length it matched.
            unsafe { lanes_small_impl(a, inverse) }
        }

        /// One level of butterflies on every `2 half`-long block of `a` (eight lanes);
        /// `half` is a power of two and `a.len()` a multiple of `2 half` (asserted).
        pub fn wide_level(a: &mut [u64], half: usize, steps: &[u64], inverse: bool) {
            assert!(
                wide_available(),
                "AVX-512 kernel called without CPU support"
            );
            // SAFETY: the CPU supports avx512f, vpclmulqdq and pclmulqdq (asserted above);
            // the kernels assert the lengths their raw accesses rely on.
            unsafe { wide_level_impl(a, half, steps, inverse) }
        }

        /// One level of butterflies on every `2 half`-long block of `a` (scalar);
        /// `a.len()` is a multiple of `2 half` (asserted).
        pub fn level(a: &mut [u64], half: usize, steps: &[u64], inverse: bool) {
            assert!(available(), "PCLMULQDQ kernel called without CPU support");
            // SAFETY: the CPU supports pclmulqdq (asserted above); the kernel has no raw
            // access (slices and bounds-checked indexing only).
            unsafe { level_impl(a, half, steps, inverse) }
        }

        /// The butterflies of one block: `lo` and `hi` of equal length, a multiple of 8 or
        /// below 8 (asserted by the kernels).
        pub fn wide_butterflies(lo: &mut [u64], hi: &mut [u64], steps: &[u64], inverse: bool) {
            assert!(
                wide_available(),
                "AVX-512 kernel called without CPU support"
            );
            // SAFETY: the CPU supports avx512f, vpclmulqdq and pclmulqdq (asserted above);
            // the kernels assert the lengths their raw accesses rely on.
            unsafe { wide_impl(lo, hi, steps, inverse) }
        }

        /// `a[i] *= b[i]`, eight at a time; `a` and `b` of equal length (asserted by the
        /// kernel).
        pub fn wide_pointwise_mul(a: &mut [u64], b: &[u64]) {
            assert!(
                wide_available(),
                "AVX-512 kernel called without CPU support"
            );
            // SAFETY: the CPU supports avx512f, vpclmulqdq and pclmulqdq (asserted above);
            // the kernel asserts the lengths its raw accesses rely on.
            unsafe { wide_pointwise_impl(a, b) }
        }

        /// Forward butterflies of one block; `lo` and `hi` of equal length (asserted).
        pub fn butterflies_forward(lo: &mut [u64], hi: &mut [u64], steps: &[u64]) {
            assert!(available(), "PCLMULQDQ kernel called without CPU support");
            assert_eq!(lo.len(), hi.len(), "butterfly halves of unequal length");
            // SAFETY: the CPU supports pclmulqdq (asserted above; the check is cached by
            // std); the kernel has no raw access.
            unsafe { forward_impl(lo, hi, steps) }
        }

        /// Inverse butterflies of one block; `lo` and `hi` of equal length (asserted).
        pub fn butterflies_inverse(lo: &mut [u64], hi: &mut [u64], steps: &[u64]) {
            assert!(available(), "PCLMULQDQ kernel called without CPU support");
            assert_eq!(lo.len(), hi.len(), "butterfly halves of unequal length");
            // SAFETY: as in `butterflies_forward`.
            unsafe { inverse_impl(lo, hi, steps) }
        }

        /// `a[i] *= b[i]`; `a` and `b` of equal length (asserted).
        pub fn pointwise_mul(a: &mut [u64], b: &[u64]) {
            assert!(available(), "PCLMULQDQ kernel called without CPU support");
            assert_eq!(a.len(), b.len(), "pointwise factors of unequal length");
            // SAFETY: as in `butterflies_forward`.
            unsafe { pointwise_impl(a, b) }
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    mod imp {
        pub fn available() -> bool {
            false
        }
        pub fn wide_available() -> bool {
            false
        }

        pub fn wide_butterflies(_: &mut [u64], _: &mut [u64], _: &[u64], _: bool) {
            unreachable!("carry-less multiply backend selected without CPU support")
        }
        pub fn wide_level(_: &mut [u64], _: usize, _: &[u64], _: bool) {
            unreachable!("carry-less multiply backend selected without CPU support")
        }
        pub fn lanes_small(_: &mut [super::super::novel::Lanes], _: bool) -> bool {
            unreachable!("AVX-512 kernel selected without CPU support")
        }
        pub fn wide_low_levels(_: &mut [u64], _: &[u64; 8], _: &[u64; 8], _: bool) {
            unreachable!("carry-less multiply backend selected without CPU support")
        }
        #[allow(clippy::too_many_arguments)]
        pub fn wide_radix4(
            _: [&mut [u64]; 4],
            _: usize,
            _: &[u64],
            _: &[u64],
            _: (u64, u64),
            _: u64,
            _: bool,
        ) {
            unreachable!("carry-less multiply backend selected without CPU support")
        }
        pub fn level(_: &mut [u64], _: usize, _: &[u64], _: bool) {
            unreachable!("carry-less multiply backend selected without CPU support")
        }
        pub fn wide_pointwise_mul(_: &mut [u64], _: &[u64]) {
            unreachable!("carry-less multiply backend selected without CPU support")
        }
        pub fn butterflies_forward(_: &mut [u64], _: &mut [u64], _: &[u64]) {
            unreachable!("carry-less multiply backend selected without CPU support")
        }
        pub fn butterflies_inverse(_: &mut [u64], _: &mut [u64], _: &[u64]) {
            unreachable!("carry-less multiply backend selected without CPU support")
        }
        pub fn pointwise_mul(_: &mut [u64], _: &[u64]) {
            unreachable!("carry-less multiply backend selected without CPU support")
        }
    }

    pub use imp::{
        available, butterflies_forward, butterflies_inverse, lanes_small, level, pointwise_mul,
        wide_available, wide_butterflies, wide_level, wide_low_levels, wide_pointwise_mul,
        wide_radix4,
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A note past the test harness's capture (it only captures `print!` and `eprint!`), so
    /// a comparison skipped for want of a CPU feature shows in every run.
    fn skipped(test: &str, backend: Backend) {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "note: {test}: skipping the {backend} backend, which needs {}",
            backend.requirement()
        );
    }

    fn random_bits(len: usize, rng: &mut rand::rngs::ChaCha8Rng) -> BitVec {
        BitVec::from_words((0..len.div_ceil(64)).map(|_| rng.next_u64()).collect(), len)
    }

    #[test]
    fn cantor_basis_satisfies_its_recurrence() {
        let basis = cantor_basis(MAX_LOG_LEN + 1);
        assert_eq!(basis[0], 1);
        for w in basis.windows(2) {
            assert_eq!(gf_mul_portable(w[1], w[1]) ^ w[1], w[0]);
        }
    }

    #[test]
    fn clmul_and_portable_multiplication_agree() {
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(11);
        let a: Vec<u64> = (0..1000).map(|_| rng.next_u64()).collect();
        let b: Vec<u64> = (0..1000).map(|_| rng.next_u64()).collect();
        let portable: Vec<u64> = a
            .iter()
            .zip(&b)
            .map(|(&x, &y)| gf_mul_portable(x, y))
            .collect();
        if clmul::available() {
            let mut fast = a.clone();
            clmul::pointwise_mul(&mut fast, &b);
            assert_eq!(fast, portable);
        } else {
            skipped("clmul_and_portable_multiplication_agree", Backend::Clmul);
        }
        if clmul::wide_available() {
            let mut fast = a.clone();
            clmul::wide_pointwise_mul(&mut fast, &b);
            assert_eq!(fast, portable);
        } else {
            skipped("clmul_and_portable_multiplication_agree", Backend::Avx512);
        }
        // Field axioms spot checks: commutative, 1 is neutral, distributive.
        for k in 0..999 {
            assert_eq!(gf_mul_portable(a[k], b[k]), gf_mul_portable(b[k], a[k]));
            assert_eq!(gf_mul_portable(a[k], 1), a[k]);
            assert_eq!(
                gf_mul_portable(a[k], b[k] ^ b[k + 1]),
                gf_mul_portable(a[k], b[k]) ^ gf_mul_portable(a[k], b[k + 1])
            );
        }
    }

    #[test]
    fn transform_round_trips_and_evaluates() {
        // Every backend this CPU has, up to 2^14 points: the level-by-level path (up to
        // 2^11), the recursive radix-2 path and the 512-bit radix-4 path.
        let cantor = cantor_basis(MAX_LOG_LEN + 1);
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(5);
        for backend in Backend::supported() {
            let ctx = Transform {
                cantor: &cantor,
                backend,
            };
            for log_len in 0..=14 {
                let len = 1usize << log_len;
                let coefficients: Vec<u64> = (0..len).map(|_| rng.next_u64()).collect();
                let mut a = coefficients.clone();
                let mut scratch = vec![0; len];
                ctx.forward(&mut a, &mut scratch);
                // Position p holds f(sum over bits i of p of beta_{k-i}).
                for p in [0, len / 3, len / 2 + 1, len - 1] {
                    let p = p.min(len - 1);
                    let point = ctx.twiddle(log_len.max(1), p);
                    let value = coefficients
                        .iter()
                        .rev()
                        .fold(0u64, |acc, &c| gf_mul_portable(acc, point) ^ c);
                    assert_eq!(a[p], value, "{backend:?} len {len} position {p}");
                }
                ctx.inverse(&mut a, &mut scratch);
                assert_eq!(a, coefficients, "{backend:?} round trip at len {len}");
            }
        }
    }

    #[test]
    fn any_number_of_pieces_gives_the_same_hash() {
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(77);
        let mut hasher = ToeplitzHasher::new();
        for &(n, l) in &[
            (1, 3),
            (2, 2),
            (5, 9),
            (64, 1),
            (65, 64),
            (700, 90),
            (1000, 1000),
        ] {
            let x = random_bits(n, &mut rng);
            let s = toeplitz_seed(n, l, &mut rng);
            let expect = toeplitz_hash_reference(&x, &s, l);
            for pieces in 1..=7 {
                assert_eq!(
                    hasher.hash_in_pieces(&x, &s, l, pieces),
                    expect,
                    "n {n} l {l} pieces {pieces}"
                );
            }
        }
        assert_eq!(best_piece_count(10_000_000, 1_250_000), 3);
    }

    #[test]
    fn toeplitz_rows_dotted_with_keys_give_the_hash() {
        // Plain bit dot products of the rows with random keys against the transform-based
        // hash, on sizes around word and piece boundaries.
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(21);
        let mut hasher = ToeplitzHasher::new();
        for (n, l) in [
            (1, 1),
            (2, 1),
            (64, 64),
            (65, 3),
            (100, 99),
            (1000, 1),
            (1000, 257),
            (4096, 512),
            (5000, 4000),
        ] {
            let seed = random_bits(n + l - 1, &mut rng);
            let rows = ToeplitzRows::new(&seed, n, l).unwrap();
            assert_eq!((rows.input_bits(), rows.output_bits()), (n, l));
            let row_bits: Vec<BitVec> = (0..l).map(|i| rows.row(i)).collect();
            for j in [0, n / 3, n - 1] {
                let mut column = vec![!0u64; l.div_ceil(64) + 1];
                rows.column_words_into(j, &mut column);
                for (i, row) in row_bits.iter().enumerate() {
                    assert_eq!(
                        column[i / 64] >> (i % 64) & 1 == 1,
                        row.get(j),
                        "column {j}"
                    );
                }
                assert_eq!(column[l.div_ceil(64)], !0, "word past the column");
                if l % 64 != 0 {
                    assert_eq!(column[l / 64] >> (l % 64), 0, "bits past the column");
                }
            }
            for _ in 0..3 {
                let key = random_bits(n, &mut rng);
                let hash = hasher.hash(&key, &seed, l).unwrap();
                for i in 0..l {
                    let row = rows.row(i);
                    assert_eq!(row.len(), n);
                    let dot = row
                        .words()
                        .iter()
                        .zip(key.words())
                        .fold(0, |a, (r, k)| a ^ (r & k).count_ones())
                        & 1;
                    assert_eq!(dot == 1, hash.get(i), "n {n} l {l} row {i}");
                }
            }
        }
        assert!(ToeplitzRows::new(&BitVec::zeros(5), 3, 2).is_err());
    }

    #[test]
    fn matches_reference_on_fixed_sizes() {
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(42);
        let mut hasher = ToeplitzHasher::new();
        let mut portable = ToeplitzHasher::portable();
        for &(n, l) in &[
            (1, 1),
            (1, 5),
            (5, 1),
            (63, 64),
            (64, 64),
            (65, 63),
            (100, 37),
            (257, 129),
            (1000, 500),
        ] {
            let x = random_bits(n, &mut rng);
            let s = toeplitz_seed(n, l, &mut rng);
            let expect = toeplitz_hash_reference(&x, &s, l);
            assert_eq!(hasher.hash(&x, &s, l).unwrap(), expect, "n {n} l {l}");
            assert_eq!(
                portable.hash(&x, &s, l).unwrap(),
                expect,
                "portable n {n} l {l}"
            );
        }
    }
    /// Every case of the `QKDSIM_PA_BACKEND` setting, on a CPU with every backend and on
    /// one with none but the portable one.
    #[test]
    fn backend_setting_is_parsed_and_checked_against_the_cpu() {
        let all = |_: Backend| true;
        let none = |b: Backend| b == Backend::Portable;
        let set = |v: &str| Some(Ok(v.to_string()));
        assert_eq!(resolve_backend(None, all), Ok(Backend::Avx512));
        assert_eq!(resolve_backend(None, none), Ok(Backend::Portable));
        assert_eq!(resolve_backend(set(""), all), Ok(Backend::Avx512));
        assert_eq!(resolve_backend(set("auto"), none), Ok(Backend::Portable));
        let clmul_only = |b: Backend| b != Backend::Avx512;
        assert_eq!(resolve_backend(set("auto"), clmul_only), Ok(Backend::Clmul));
        for backend in Backend::ALL {
            assert_eq!(resolve_backend(set(backend.name()), all), Ok(backend));
        }
        assert_eq!(
            resolve_backend(set("portable"), none),
            Ok(Backend::Portable)
        );

        // Unknown values: the variable, the value and the allowed values are named.
        for bad in ["avx2", "Portable", " portable", "fast", "1"] {
            let msg = resolve_backend(set(bad), all).unwrap_err();
            assert!(
                msg.contains(&format!("QKDSIM_PA_BACKEND=\"{bad}\""))
                    && msg.contains("allowed values: auto (or unset), avx512, clmul, portable"),
                "{msg}"
            );
        }
        let msg = resolve_backend(Some(Err("p\u{FFFD}rtable".into())), all).unwrap_err();
        assert!(
            msg.contains("QKDSIM_PA_BACKEND") && msg.contains("allowed values"),
            "{msg}"
        );

        // A backend the CPU lacks: an error that says what it needs and what there is.
        let msg = resolve_backend(set("avx512"), none).unwrap_err();
        assert!(
            msg.contains("QKDSIM_PA_BACKEND=\"avx512\"")
                && msg.contains("AVX-512F, VPCLMULQDQ and PCLMULQDQ")
                && msg.contains("this CPU supports portable"),
            "{msg}"
        );
        let msg = resolve_backend(set("clmul"), none).unwrap_err();
        assert!(
            msg.contains("PCLMULQDQ") && msg.contains("allowed values"),
            "{msg}"
        );
        let msg = resolve_backend(set("avx512"), clmul_only).unwrap_err();
        assert!(msg.contains("this CPU supports clmul, portable"), "{msg}");
    }

    #[test]
    fn with_backend_refuses_what_the_cpu_lacks_and_builds_the_rest() {
        for backend in Backend::ALL {
            match ToeplitzHasher::with_backend(backend) {
                Ok(h) => {
                    assert!(backend.is_supported(), "{backend} built without support");
                    assert_eq!(h.backend(), backend);
                    assert_eq!(h.uses_clmul(), backend != Backend::Portable);
                }
                Err(Error::InvalidArgument(msg)) => {
                    assert!(!backend.is_supported(), "{backend} refused: {msg}");
                    assert!(msg.contains(backend.requirement()), "{msg}");
                }
                Err(e) => panic!("{backend}: unexpected error {e}"),
            }
        }
        assert_eq!(Backend::fastest(), Backend::supported()[0]);
        assert!(Backend::supported().contains(&Backend::Portable));
    }

    /// The kernel entries refuse slice shapes their raw accesses or their loops rely on,
    /// with a panic (never an out-of-bounds access or a silently skipped tail).
    #[test]
    fn kernels_assert_the_slice_lengths_they_rely_on() {
        use std::panic::{AssertUnwindSafe, catch_unwind};
        // Each call must panic, and with the kernel's own message (not, say, an index
        // out of bounds further in).
        let refused = |what: &str, f: &mut dyn FnMut()| {
            let payload = catch_unwind(AssertUnwindSafe(f))
                .expect_err(&format!("{what} accepted a bad shape"));
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("");
            assert!(
                [
                    "unequal length",
                    "not a multiple of 8",
                    "half-length",
                    "multiples of 8"
                ]
                .iter()
                .any(|m| msg.contains(m)),
                "{what}: unexpected panic {msg:?}"
            );
        };
        let steps = [1u64; MAX_LOG_LEN + 1];
        if clmul::available() {
            refused("pointwise_mul", &mut || {
                clmul::pointwise_mul(&mut [1; 9], &[1; 8])
            });
            refused("butterflies_forward", &mut || {
                clmul::butterflies_forward(&mut [1; 8], &mut [1; 7], &steps)
            });
            refused("butterflies_inverse", &mut || {
                clmul::butterflies_inverse(&mut [1; 7], &mut [1; 8], &steps)
            });
            refused("level", &mut || {
                clmul::level(&mut [1; 24], 8, &steps, false)
            });
        }
        if clmul::wide_available() {
            refused("wide_pointwise_mul", &mut || {
                clmul::wide_pointwise_mul(&mut [1; 16], &[1; 8])
            });
            refused("wide_butterflies", &mut || {
                clmul::wide_butterflies(&mut [1; 16], &mut [1; 8], &steps, false)
            });
            refused("wide_butterflies", &mut || {
                clmul::wide_butterflies(&mut [1; 12], &mut [1; 12], &steps, false)
            });
            refused("wide_level", &mut || {
                clmul::wide_level(&mut [1; 48], 16, &steps, true)
            });
            refused("wide_low_levels", &mut || {
                clmul::wide_low_levels(&mut [1; 12], &[1; 8], &[1; 8], false)
            });
            let (mut a, mut b, mut c, mut d) = ([1u64; 16], [1u64; 16], [1u64; 8], [1u64; 16]);
            refused("wide_radix4 (short quarter)", &mut || {
                clmul::wide_radix4(
                    [&mut a, &mut b, &mut c, &mut d],
                    0,
                    &steps,
                    &steps,
                    (0, 0),
                    1,
                    false,
                )
            });
            let (mut a, mut b, mut c, mut d) = ([1u64; 12], [1u64; 12], [1u64; 12], [1u64; 12]);
            refused("wide_radix4 (12 elements)", &mut || {
                clmul::wide_radix4(
                    [&mut a, &mut b, &mut c, &mut d],
                    0,
                    &steps,
                    &steps,
                    (0, 0),
                    1,
                    false,
                )
            });
            let (mut a, mut b, mut c, mut d) = ([1u64; 16], [1u64; 16], [1u64; 16], [1u64; 16]);
            refused("wide_radix4 (j0 = 4)", &mut || {
                clmul::wide_radix4(
                    [&mut a, &mut b, &mut c, &mut d],
                    4,
                    &steps,
                    &steps,
                    (0, 0),
                    1,
                    false,
                )
            });
        }
    }
}
