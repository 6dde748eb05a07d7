//! Verifying many signatures by few keys.
//!
//! A node catching up verifies a million signatures made by a few dozen region keys, and the
//! hub verifies every published record against the same few. `verify_strict` recomputes
//! `R' = [s]B − [k]A` with a double-base multiplication that spends most of its time doubling,
//! because it knows nothing of `A` ahead. A key that verifies many signatures is worth a table
//! of its multiples, like the one the library keeps for the base point `B`: then
//! `[s]B − [k]A` is table lookups and additions only, and a verification costs about a fifth
//! less (docs/performance.md).
//!
//! The library's own table (`EdwardsBasepointTable`) is built for secret scalars: every lookup
//! reads all eight entries of a row in constant time, a tenth of a catching-up node's CPU.
//! Verification has no secrets (the key, the message, the signature and the challenge are all
//! public), so [`Multiples`] looks its entries up directly and skips zero digits, with the
//! library's point addition doing all the arithmetic.
//!
//! On a CPU with AVX-512 IFMA the library's own double-base multiplication, precomputed for the
//! key (`VartimeEdwardsPrecomputation`), is faster still: it works on four field elements at once,
//! and does the whole `[s]B − [k]A` in about two thirds of the time the multiples take
//! ([`TableKind::fastest`]; docs/performance.md). The workspace builds curve25519-dalek with
//! that code (`.cargo/config.toml`), which the library runs only after asking the CPU, so the
//! same binary runs everywhere.
//!
//! Encoding the recomputed point to compare it with `R`'s bytes takes a field inversion, a sixth
//! of a verification; verifications begun together ([`PreparedKey::begin`]) are decided together
//! ([`decide`]), with one inversion for the lot (curve25519-dalek 5's `compress_batch_alloc`;
//! ed25519-dalek stays at 2, on curve25519-dalek 4, because `signed_note` is built on it, and the
//! two meet only as bytes).
//!
//! The verdict is `verify_strict`'s: the same refusals (a key or an `R` of small order, a
//! non-canonical `s`; [`PreparedKey::verify_strict_verdict`] says why comparing `R`'s bytes is
//! enough for the second), the same challenge
//! `k = SHA-512(R ‖ A ‖ M)` over the key's bytes as given, the same point (group arithmetic is
//! exact, however it is computed) and the same comparison of its canonical encoding with `R`'s
//! bytes. Every Wycheproof case checks it with each kind of table, whichever this CPU uses.

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::{CompressedEdwardsY, VartimeEdwardsPrecomputation};
use curve25519_dalek::traits::{Identity, VartimePrecomputedMultiscalarMul};
use curve25519_dalek::{EdwardsPoint, Scalar};
use ed25519_dalek::{Signature, SignatureError, Verifier, VerifyingKey};
use sha2::{Digest, Sha512};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::LazyLock;

/// The canonical encodings of the eight points of small order.
static SMALL_ORDER_POINTS: LazyLock<[[u8; 32]; 8]> =
    LazyLock::new(|| EIGHT_TORSION.map(|point| point.compress().to_bytes()));

/// Signatures a key verifies on one thread before it gets its table. The table (110 KB) costs
/// about five verifications to build, so a key seldom used never pays for one.
const TABLE_AFTER: u32 = 64;

/// Most keys a thread keeps prepared: at most 256 × 110 KB of tables per verifying thread, for
/// federations far larger than 34 regions with a few keys each.
const CACHED_KEYS: usize = 256;

/// The two ways a key with a table recomputes `R'`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    /// [`Multiples`] of the key and of `B`, added with the library's one-at-a-time arithmetic.
    Multiples,
    /// The library's double-base multiplication precomputed for `B` and the key, vectorised
    /// where the CPU allows.
    Precomputed,
}

impl TableKind {
    pub const ALL: [TableKind; 2] = [TableKind::Multiples, TableKind::Precomputed];

    /// The faster on this CPU: the library's precomputation where it runs on AVX-512 IFMA
    /// (16.5–18 µs a verification against 22–26 for the multiples, docs/performance.md round
    /// 15); its AVX2 and serial code are slower than the multiples (36–38 µs against 23, round
    /// 16).
    pub fn fastest() -> TableKind {
        static FASTEST: LazyLock<TableKind> = LazyLock::new(|| {
            if ifma_arithmetic() {
                TableKind::Precomputed
            } else {
                TableKind::Multiples
            }
        });
        *FASTEST
    }
}

/// Whether curve25519-dalek was built with its AVX-512 IFMA code (`.cargo/config.toml`) and this
/// CPU runs it: the library asks the CPU the same question before using that code.
#[cfg(all(target_arch = "x86_64", curve25519_dalek_backend = "avx512"))]
fn ifma_arithmetic() -> bool {
    std::arch::is_x86_feature_detected!("avx512ifma")
        && std::arch::is_x86_feature_detected!("avx512vl")
}

#[cfg(not(all(target_arch = "x86_64", curve25519_dalek_backend = "avx512")))]
fn ifma_arithmetic() -> bool {
    false
}

/// A key's table, of either kind.
enum Table {
    Multiples(Multiples),
    Precomputed(VartimeEdwardsPrecomputation),
}

impl Table {
    fn of(key: &EdwardsPoint, kind: TableKind) -> Table {
        match kind {
            TableKind::Multiples => Table::Multiples(Multiples::of(key)),
            TableKind::Precomputed => Table::Precomputed(VartimeEdwardsPrecomputation::new([
                ED25519_BASEPOINT_POINT,
                *key,
            ])),
        }
    }

    /// `[s]B − [k]A`.
    fn recompute(&self, s: &Scalar, k: &Scalar) -> EdwardsPoint {
        let minus_k = -k;
        match self {
            Table::Multiples(multiples) => {
                sum_of_multiples(s, &BASEPOINT_MULTIPLES, &minus_k, multiples)
            }
            Table::Precomputed(precomputed) => precomputed.vartime_multiscalar_mul([s, &minus_k]),
        }
    }
}

/// A public key, decompressed, and once it has verified [`TABLE_AFTER`] signatures, with a
/// table for its multiplications.
pub struct PreparedKey {
    key: VerifyingKey,
    /// `key.is_weak()`, asked once: it costs three doublings, and every verification needs it.
    weak: bool,
    verified: u32,
    kind: TableKind,
    table: Option<Table>,
}

impl PreparedKey {
    pub fn new(key: VerifyingKey) -> PreparedKey {
        PreparedKey {
            weak: key.is_weak(),
            key,
            verified: 0,
            kind: TableKind::fastest(),
            table: None,
        }
    }

    /// The key with a table of `kind` built at its first use (tests check each kind's verdicts
    /// from the first).
    pub fn with_table(key: VerifyingKey, kind: TableKind) -> PreparedKey {
        let mut prepared = PreparedKey::new(key);
        prepared.verified = TABLE_AFTER;
        prepared.kind = kind;
        prepared
    }

    /// `verify_strict`'s verdict on `signature` over `message`, without its square root.
    ///
    /// `verify_strict` is `verify` plus two refusals: a key of small order, and a signature
    /// whose `R` decompresses to a point of small order. It decompresses `R` for the second (a
    /// square root per signature, a seventh of a verification), but it only needs it when the
    /// equation holds, and the equation holds only if `R`'s bytes are the canonical encoding of
    /// the point it recomputes. So a point of small order can only get that far as one of the
    /// eight canonical encodings, and comparing bytes gives the same verdict. The equation is
    /// `verify`'s until the key has its table, then [`recompute_r`].
    pub fn verify_strict_verdict(&mut self, message: &[u8], signature: &Signature) -> bool {
        decide(&[self.begin(message, signature)])[0]
    }

    /// [`Self::verify_strict_verdict`] up to encoding the recomputed point: [`decide`] finishes
    /// it, together with others.
    pub fn begin(&mut self, message: &[u8], signature: &Signature) -> Pending {
        if self.weak || SMALL_ORDER_POINTS.contains(signature.r_bytes()) {
            return Pending::Decided(false);
        }
        if self.table.is_none() {
            self.verified += 1;
            if self.verified < TABLE_AFTER {
                return Pending::Decided(self.key.verify(message, signature).is_ok());
            }
            let point = CompressedEdwardsY(self.key.to_bytes())
                .decompress()
                .expect("a VerifyingKey is a curve point");
            self.table = Some(Table::of(&point, self.kind));
        }
        let table = self.table.as_ref().expect("built above");
        recompute_r(&self.key, table, message, signature)
    }
}

/// A verification begun: decided already, or waiting for its recomputed `R'` to be encoded and
/// compared with the signature's `R`.
#[derive(Clone, Copy)]
pub enum Pending {
    Decided(bool),
    Recomputed { point: EdwardsPoint, r: [u8; 32] },
}

/// The verdicts of verifications begun with [`PreparedKey::begin`], in order: the recomputed
/// points are encoded together, one field inversion for all of them.
pub fn decide(pending: &[Pending]) -> Vec<bool> {
    let points: Vec<EdwardsPoint> = pending
        .iter()
        .filter_map(|p| match p {
            Pending::Recomputed { point, .. } => Some(*point),
            Pending::Decided(_) => None,
        })
        .collect();
    let mut encoded = EdwardsPoint::compress_batch_alloc(&points).into_iter();
    pending
        .iter()
        .map(|p| match p {
            Pending::Decided(verdict) => *verdict,
            Pending::Recomputed { r, .. } => {
                encoded.next().expect("one encoding per point").as_bytes() == r
            }
        })
        .collect()
}

/// `[s]B − [k]A`, from the key's table, with `s` canonical: the verification equation exactly as
/// `verify` evaluates it, holding when the point's canonical encoding is `R`'s bytes.
fn recompute_r(
    key: &VerifyingKey,
    table: &Table,
    message: &[u8],
    signature: &Signature,
) -> Pending {
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(*signature.s_bytes())) else {
        return Pending::Decided(false);
    };
    let digest = Sha512::new()
        .chain_update(signature.r_bytes())
        .chain_update(key.as_bytes())
        .chain_update(message)
        .finalize();
    let k = Scalar::from_bytes_mod_order_wide(&digest.into());
    Pending::Recomputed {
        point: table.recompute(&s, &k),
        r: *signature.r_bytes(),
    }
}

/// The multiples of the base point `B`, built once per process.
static BASEPOINT_MULTIPLES: LazyLock<Multiples> =
    LazyLock::new(|| Multiples::of(&ED25519_BASEPOINT_POINT));

/// Bits per digit of the scalars' signed radix-2^w form. Wider digits mean fewer additions
/// and larger tables: from 4 bits (64 additions per scalar, 40 KB a table) to 6 (43, 110 KB)
/// a verification costs about a seventh less; 7 bits gain little more for 190 KB
/// (docs/performance.md).
const DIGIT_BITS: usize = 6;
/// Digits of a scalar below 2^255, the carry into the last included.
const DIGITS: usize = 256usize.div_ceil(DIGIT_BITS);
/// One row of multiples serves an even digit and the odd digit above it.
const ROWS: usize = DIGITS.div_ceil(2);
/// The largest digit's magnitude, and so the multiples in a row.
const PER_ROW: usize = 1 << (DIGIT_BITS - 1);

/// `m·2^(2wj)·P` for `m` in 1..=2^(w−1) and `j` below [`ROWS`] (`w` = [`DIGIT_BITS`]): `[a]P`
/// is then at most [`DIGITS`] lookups and additions (see [`sum_of_multiples`]). Variable time:
/// for public points and scalars only.
struct Multiples(Box<[[EdwardsPoint; PER_ROW]; ROWS]>);

impl Multiples {
    fn of(point: &EdwardsPoint) -> Multiples {
        let mut rows = Box::new([[EdwardsPoint::identity(); PER_ROW]; ROWS]);
        let mut base = *point;
        for row in rows.iter_mut() {
            let mut multiple = base;
            for entry in row.iter_mut() {
                *entry = multiple;
                multiple += base;
            }
            // 2^(w−1)·base, doubled w + 1 times: the next row's base, 2^(2w)·base.
            base = (0..=DIGIT_BITS).fold(row[PER_ROW - 1], |p, _| p + p);
        }
        Multiples(rows)
    }

    /// Adds `digit·2^(2wj)·P` (`digit` in −2^(w−1)..=2^(w−1)) to `sum`.
    fn add_to(&self, sum: &mut EdwardsPoint, j: usize, digit: i8) {
        match digit {
            0 => {}
            1.. => *sum += &self.0[j][digit as usize - 1],
            _ => *sum -= &self.0[j][digit.unsigned_abs() as usize - 1],
        }
    }
}

/// `[a]P + [b]Q` from the multiples of `P` and `Q`, for reduced scalars. With `a = Σ aᵢ·2^(wi)`
/// in signed digits, the odd digits' sum is added up first and multiplied by 2^w, so every
/// digit needs a row of multiples of `2^(2wj)·P` only (as `EdwardsBasepointTable` does it).
fn sum_of_multiples(a: &Scalar, p: &Multiples, b: &Scalar, q: &Multiples) -> EdwardsPoint {
    let (a, b) = (signed_digits(a), signed_digits(b));
    let mut sum = EdwardsPoint::identity();
    for j in 0..DIGITS / 2 {
        p.add_to(&mut sum, j, a[2 * j + 1]);
        q.add_to(&mut sum, j, b[2 * j + 1]);
    }
    sum = (0..DIGIT_BITS).fold(sum, |s, _| s + s);
    for j in 0..ROWS {
        p.add_to(&mut sum, j, a[2 * j]);
        q.add_to(&mut sum, j, b[2 * j]);
    }
    sum
}

/// The scalar's digits `aᵢ` in −2^(w−1)..=2^(w−1) with `Σ aᵢ·2^(wi)` = the scalar (below
/// 2^255, which every reduced scalar is, so the last digit stays small).
fn signed_digits(scalar: &Scalar) -> [i8; DIGITS] {
    let bytes = scalar.as_bytes();
    let mut digits = [0i8; DIGITS];
    for (i, digit) in digits.iter_mut().enumerate() {
        let (byte, shift) = (DIGIT_BITS * i / 8, DIGIT_BITS * i % 8);
        let window =
            u16::from(bytes[byte]) | u16::from(bytes.get(byte + 1).copied().unwrap_or(0)) << 8;
        *digit = ((window >> shift) & ((1 << DIGIT_BITS) - 1)) as i8;
    }
    for i in 0..DIGITS - 1 {
        let carry = (digits[i] + PER_ROW as i8) >> DIGIT_BITS;
        digits[i] -= carry << DIGIT_BITS;
        digits[i + 1] += carry;
    }
    digits
}

/// [`PreparedKey::begin`] with the key given as its 32 bytes, prepared once per thread: the keys
/// are few (a handful per region, checked as registered before any signature is). An error says
/// the bytes are not a curve point.
pub fn begin_with_key_bytes(
    key: &[u8; 32],
    message: &[u8],
    signature: &Signature,
) -> Result<Pending, SignatureError> {
    thread_local! {
        static KEYS: RefCell<HashMap<[u8; 32], PreparedKey>> = RefCell::new(HashMap::new());
    }
    KEYS.with_borrow_mut(|keys| {
        if !keys.contains_key(key) {
            let prepared = PreparedKey::new(VerifyingKey::from_bytes(key)?);
            if keys.len() >= CACHED_KEYS {
                keys.clear();
            }
            keys.insert(*key, prepared);
        }
        let prepared = keys.get_mut(key).expect("inserted above");
        Ok(prepared.begin(message, signature))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate;
    use ed25519_dalek::Signer;

    #[test]
    fn a_key_verifies_only_its_own_signatures_before_and_after_its_table() {
        let (a, b) = (generate(), generate());
        let message = b"yiqi";
        let verifies = |key: &ed25519_dalek::SigningKey, signature: &Signature| {
            let begun = begin_with_key_bytes(key.verifying_key().as_bytes(), message, signature);
            decide(&[begun.unwrap()])[0]
        };
        for _ in 0..2 * TABLE_AFTER {
            assert!(verifies(&a, &a.sign(message)));
            assert!(!verifies(&b, &a.sign(message)));
            assert!(verifies(&b, &b.sign(message)));
        }
        for kind in TableKind::ALL {
            let mut prepared = PreparedKey::with_table(a.verifying_key(), kind);
            assert!(prepared.verify_strict_verdict(message, &a.sign(message)));
            assert!(!prepared.verify_strict_verdict(b"yiqj", &a.sign(message)));
            assert!(!prepared.verify_strict_verdict(message, &b.sign(message)));
        }
    }

    /// Random scalars, and those whose digits are extreme (0, 1, ℓ − 1, the largest digits,
    /// all-negative digits).
    fn test_scalars() -> Vec<Scalar> {
        let edges = [
            Scalar::ZERO,
            Scalar::ONE,
            -Scalar::ONE,
            Scalar::from(8u64),
            Scalar::from_bytes_mod_order([0x88; 32]),
            Scalar::from_bytes_mod_order([0x77; 32]),
            Scalar::from_bytes_mod_order([0xff; 32]),
        ];
        let random = (0..64).map(|_| {
            let mut wide = [0u8; 64];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut wide);
            Scalar::from_bytes_mod_order_wide(&wide)
        });
        edges.into_iter().chain(random).collect()
    }

    /// The library's constant-time arithmetic and the tables agree.
    #[test]
    fn sums_of_multiples_are_the_library_s_multiplications() {
        let q = EdwardsPoint::mul_base(&Scalar::from(7u64));
        let (base, other) = (&*BASEPOINT_MULTIPLES, Multiples::of(&q));
        let scalars = test_scalars();
        for (a, b) in scalars.iter().zip(scalars.iter().rev()) {
            let expected = EdwardsPoint::mul_base(a) + q * b;
            assert_eq!(
                sum_of_multiples(a, base, b, &other),
                expected,
                "{a:?} {b:?}"
            );
        }
    }

    /// Every digit has its multiple in a row, and the digits add up to the scalar.
    #[test]
    fn signed_digits_stay_in_a_row_and_add_up_to_the_scalar() {
        let signed = |digit: i8| match digit {
            0.. => Scalar::from(digit as u64),
            _ => -Scalar::from(u64::from(digit.unsigned_abs())),
        };
        let radix = Scalar::from(1u64 << DIGIT_BITS);
        for scalar in test_scalars() {
            let digits = signed_digits(&scalar);
            assert!(
                digits
                    .iter()
                    .all(|d| usize::from(d.unsigned_abs()) <= PER_ROW),
                "{digits:?}"
            );
            let sum = digits
                .iter()
                .rev()
                .fold(Scalar::ZERO, |sum, &digit| sum * radix + signed(digit));
            assert_eq!(sum, scalar);
        }
    }

    #[test]
    fn bytes_that_are_not_a_curve_point_are_an_error_every_time() {
        let not_a_point = (2u8..)
            .map(|y| {
                let mut bytes = [0; 32];
                bytes[0] = y;
                bytes
            })
            .find(|bytes| VerifyingKey::from_bytes(bytes).is_err())
            .unwrap();
        let signature = generate().sign(b"yiqi");
        for _ in 0..2 {
            assert!(begin_with_key_bytes(&not_a_point, b"yiqi", &signature).is_err());
        }
    }

    /// Altered signatures among sound ones get `verify_strict`'s verdicts from either kind of
    /// table, one by one and decided together.
    #[test]
    fn altered_signatures_get_verify_strict_verdict_from_the_table() {
        for kind in TableKind::ALL {
            altered_signatures_get_verify_strict_verdict_from(kind);
        }
    }

    fn altered_signatures_get_verify_strict_verdict_from(kind: TableKind) {
        let key = generate();
        let mut prepared = PreparedKey::with_table(key.verifying_key(), kind);
        let signed: Vec<([u8; 4], Signature)> = (0u32..300)
            .map(|i| {
                let message = i.to_be_bytes();
                let mut bytes = key.sign(&message).to_bytes();
                if i % 3 != 0 {
                    bytes[(i as usize * 7) % 64] ^= 1 << (i % 8);
                }
                (message, Signature::from_bytes(&bytes))
            })
            .collect();
        let strict: Vec<bool> = signed
            .iter()
            .map(|(message, signature)| {
                let verdict = key.verifying_key().verify_strict(message, signature);
                verdict.is_ok()
            })
            .collect();
        let one_by_one: Vec<bool> = signed
            .iter()
            .map(|(message, signature)| prepared.verify_strict_verdict(message, signature))
            .collect();
        let begun: Vec<Pending> = signed
            .iter()
            .map(|(message, signature)| prepared.begin(message, signature))
            .collect();
        assert_eq!(one_by_one, strict);
        assert_eq!(decide(&begun), strict);
        assert!(strict.iter().any(|v| *v) && strict.iter().any(|v| !*v));
    }

    mod strict_verdict {
        use super::super::*;
        use crate::keys::generate;
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
        use curve25519_dalek::{EdwardsPoint, Scalar};
        use ed25519_dalek::Signer;
        use sha2::{Digest, Sha512};

        /// The verdict before the key has its table.
        fn cheaper_verdict(key: &VerifyingKey, message: &[u8], signature: &Signature) -> bool {
            PreparedKey::new(*key).verify_strict_verdict(message, signature)
        }

        fn random_scalar() -> Scalar {
            let mut wide = [0u8; 64];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut wide);
            Scalar::from_bytes_mod_order_wide(&wide)
        }

        /// Ed25519's challenge `k = H(R ‖ A ‖ M)`.
        fn challenge(r: &[u8; 32], key: &EdwardsPoint, message: &[u8]) -> Scalar {
            let digest = Sha512::new()
                .chain_update(r)
                .chain_update(key.compress().as_bytes())
                .chain_update(message);
            Scalar::from_bytes_mod_order_wide(&digest.finalize().into())
        }

        /// Both verdicts, and that `verify` alone would have said `plain`.
        fn verdicts(key: &EdwardsPoint, message: &[u8], r: [u8; 32], s: Scalar) -> (bool, bool) {
            let key = VerifyingKey::from_bytes(key.compress().as_bytes()).unwrap();
            let signature = Signature::from_components(r, s.to_bytes());
            let strict = key.verify_strict(message, &signature).is_ok();
            assert!(key.verify(message, &signature).is_ok(), "verify accepts it");
            for kind in TableKind::ALL {
                let mut prepared = PreparedKey::with_table(key, kind);
                assert_eq!(
                    prepared.verify_strict_verdict(message, &signature),
                    strict,
                    "the verdict with {kind:?}"
                );
            }
            (strict, cheaper_verdict(&key, message, &signature))
        }

        #[test]
        fn ordinary_signatures_verify_and_others_do_not() {
            let key = generate();
            let signature = key.sign(b"yiqi");
            let public = key.verifying_key();
            assert!(cheaper_verdict(&public, b"yiqi", &signature));
            assert!(!cheaper_verdict(&public, b"yiqj", &signature));
            assert!(!cheaper_verdict(
                &generate().verifying_key(),
                b"yiqi",
                &signature
            ));
        }

        /// `R` = the identity and `s = k·a`: `verify` accepts, `verify_strict` refuses.
        #[test]
        fn the_identity_as_r_is_refused_as_verify_strict_refuses_it() {
            let secret = random_scalar();
            let key = B * secret;
            let identity = EdwardsPoint::default().compress().to_bytes();
            let s = challenge(&identity, &key, b"yiqi") * secret;
            assert_eq!(verdicts(&key, b"yiqi", identity, s), (false, false));
        }

        /// A key of order 2 and `R` = `s·B` plus the right torsion point: `verify` accepts,
        /// `verify_strict` refuses the key.
        #[test]
        fn a_small_order_key_is_refused_as_verify_strict_refuses_it() {
            let key = EIGHT_TORSION[4];
            for attempt in 0u32.. {
                let message = attempt.to_be_bytes();
                let s = random_scalar();
                let guess = if attempt % 2 == 0 {
                    EdwardsPoint::default()
                } else {
                    key
                };
                let r = (B * s + guess).compress().to_bytes();
                if -(key * challenge(&r, &key, &message)) == guess {
                    assert_eq!(verdicts(&key, &message, r, s), (false, false));
                    return;
                }
                assert!(attempt < 64, "no signature found");
            }
        }
    }
}
