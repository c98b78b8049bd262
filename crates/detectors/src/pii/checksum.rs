//! Check digits and checksums that turn a number-shaped string into a validated identifier:
//! Luhn (cards, Canadian SIN), ISO 13616 mod-97 (IBAN), Verhoeff (Aadhaar), Base58Check and
//! Bech32/Bech32m (Bitcoin), Keccak-256 with EIP-55 (Ethereum), CRC-32 with Base62 (GitHub
//! and npm tokens), and the national schemes in [`super::national`].
//!
//! Every function takes the characters as written and returns `false` (or `None`) for anything
//! malformed; none of them panics on odd input.

use sha2::{Digest, Sha256};

/// ASCII digits of `s` as numbers, skipping separators; `None` when `s` holds anything but
/// digits, spaces and dashes.
pub fn digits(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'0'..=b'9' => out.push(b - b'0'),
            b' ' | b'-' | b'.' => {}
            _ => return None,
        }
    }
    Some(out)
}

/// The Luhn (mod 10) check used by payment cards, IMEIs and Canadian SINs.
pub fn luhn(digits: &[u8]) -> bool {
    if digits.len() < 2 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = 2 * d;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The length of an IBAN for a country (ISO 13616 registry), `None` for countries without
/// IBANs.
pub fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "FO" | "GL" | "NL" => 18,
        "MK" | "SI" => 19,
        "AT" | "BA" | "EE" | "KZ" | "LT" | "LU" | "XK" => 20,
        "CH" | "HR" | "LI" | "LV" => 21,
        "BG" | "BH" | "CR" | "DE" | "GB" | "GE" | "IE" | "ME" | "RS" | "VA" => 22,
        "AE" | "GI" | "IL" | "IQ" | "TL" => 23,
        "AD" | "CZ" | "ES" | "MD" | "PK" | "RO" | "SA" | "SE" | "SK" | "TN" | "VG" => 24,
        "PT" | "ST" => 25,
        "IS" | "TR" => 26,
        "FR" | "GR" | "IT" | "MC" | "MR" | "SM" => 27,
        "AL" | "AZ" | "BY" | "CY" | "DO" | "GT" | "HU" | "LB" | "PL" | "SV" => 28,
        "BR" | "EG" | "PS" | "QA" | "UA" => 29,
        "JO" | "KW" | "MU" => 30,
        "MT" | "SC" => 31,
        "LC" => 32,
        _ => return None,
    })
}

/// ISO 7064 mod 97-10 over an IBAN without spaces (upper- or lower-case): the country code and
/// check digits move to the end, letters become 10..35, and the number mod 97 must be 1.
pub fn iban_mod97(compact: &str) -> bool {
    let b = compact.as_bytes();
    if b.len() < 5 || !b.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let mut rem: u32 = 0;
    for &c in b[4..].iter().chain(&b[..4]) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            _ => u32::from(c.to_ascii_uppercase() - b'A') + 10,
        };
        rem = if v < 10 {
            (rem * 10 + v) % 97
        } else {
            (rem * 100 + v) % 97
        };
    }
    rem == 1
}

/// Verhoeff's dihedral-group check (Indian Aadhaar numbers).
pub fn verhoeff(digits: &[u8]) -> bool {
    const D: [[u8; 10]; 10] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ];
    const P: [[u8; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    if digits.is_empty() || digits.iter().any(|&d| d > 9) {
        return false;
    }
    let mut c = 0u8;
    for (i, &d) in digits.iter().rev().enumerate() {
        c = D[c as usize][P[i % 8][d as usize] as usize];
    }
    c == 0
}

const BASE58: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Decodes Base58 (Bitcoin's alphabet); `None` on a character outside it.
pub fn base58_decode(s: &str) -> Option<Vec<u8>> {
    let mut bytes: Vec<u8> = Vec::with_capacity(s.len());
    for c in s.bytes() {
        let mut carry = BASE58.iter().position(|&a| a == c)? as u32;
        for b in bytes.iter_mut().rev() {
            carry += u32::from(*b) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let zeros = s.bytes().take_while(|&c| c == b'1').count();
    let mut out = vec![0u8; zeros];
    out.extend(bytes);
    Some(out)
}

/// A Base58Check payload (version byte + data) when the 4-byte double-SHA-256 checksum holds.
pub fn base58check(s: &str) -> Option<Vec<u8>> {
    let raw = base58_decode(s)?;
    if raw.len() < 5 {
        return None;
    }
    let (payload, check) = raw.split_at(raw.len() - 4);
    let h = Sha256::digest(Sha256::digest(payload));
    (h[..4] == *check).then(|| payload.to_vec())
}

/// Which Bech32 checksum constant a string carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bech32Variant {
    /// BIP-173 (SegWit version 0).
    Bech32,
    /// BIP-350 (SegWit version 1 and later, Taproot).
    Bech32m,
}

const BECH32_CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

fn bech32_polymod(values: impl Iterator<Item = u8>) -> u32 {
    const GEN: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    let mut chk: u32 = 1;
    for v in values {
        let top = chk >> 25;
        chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

/// Decodes a Bech32 or Bech32m string into its human-readable part and 5-bit data (checksum
/// removed). Mixed case, a missing separator or a bad checksum give `None`.
pub fn bech32_decode(s: &str) -> Option<(String, Vec<u8>, Bech32Variant)> {
    if s.len() > 90 || !s.is_ascii() {
        return None;
    }
    let has_lower = s.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = s.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper {
        return None;
    }
    let s = s.to_ascii_lowercase();
    let sep = s.rfind('1')?;
    if sep == 0 || sep + 7 > s.len() {
        return None;
    }
    let hrp = &s[..sep];
    if !hrp.bytes().all(|b| (33..=126).contains(&b)) {
        return None;
    }
    let data: Vec<u8> = s[sep + 1..]
        .bytes()
        .map(|c| BECH32_CHARSET.iter().position(|&a| a == c).map(|p| p as u8))
        .collect::<Option<_>>()?;
    let expanded = hrp
        .bytes()
        .map(|b| b >> 5)
        .chain(std::iter::once(0))
        .chain(hrp.bytes().map(|b| b & 31))
        .chain(data.iter().copied());
    let variant = match bech32_polymod(expanded) {
        1 => Bech32Variant::Bech32,
        0x2bc8_30a3 => Bech32Variant::Bech32m,
        _ => return None,
    };
    let payload = data[..data.len() - 6].to_vec();
    Some((hrp.to_string(), payload, variant))
}

/// Regroups bits (5-bit Bech32 words to bytes); `None` when padding is not zero.
fn convert_bits(data: &[u8], from: u32, to: u32) -> Option<Vec<u8>> {
    let (mut acc, mut bits) = (0u32, 0u32);
    let mut out = Vec::new();
    let maxv = (1u32 << to) - 1;
    for &v in data {
        let v = u32::from(v);
        if v >> from != 0 {
            return None;
        }
        acc = (acc << from) | v;
        bits += from;
        while bits >= to {
            bits -= to;
            out.push(((acc >> bits) & maxv) as u8);
        }
    }
    if bits >= from || (acc << (to - bits)) & maxv != 0 {
        return None;
    }
    Some(out)
}

/// A valid SegWit address (`bc1…` mainnet or `tb1…` testnet): the right checksum variant for
/// its witness version and a witness program of legal length.
pub fn segwit_address(s: &str) -> bool {
    let Some((hrp, data, variant)) = bech32_decode(s) else {
        return false;
    };
    if (hrp != "bc" && hrp != "tb") || data.is_empty() {
        return false;
    }
    let version = data[0];
    let Some(program) = convert_bits(&data[1..], 5, 8) else {
        return false;
    };
    match version {
        0 => variant == Bech32Variant::Bech32 && (program.len() == 20 || program.len() == 32),
        1..=16 => variant == Bech32Variant::Bech32m && (2..=40).contains(&program.len()),
        _ => false,
    }
}

/// A valid legacy Bitcoin address: Base58Check with a 20-byte hash after a P2PKH (`1…`) or
/// P2SH (`3…`) version byte.
pub fn base58_address(s: &str) -> bool {
    base58check(s).is_some_and(|p| p.len() == 21 && (p[0] == 0x00 || p[0] == 0x05))
}

const KECCAK_RC: [u64; 24] = [
    0x0000_0000_0000_0001,
    0x0000_0000_0000_8082,
    0x8000_0000_0000_808A,
    0x8000_0000_8000_8000,
    0x0000_0000_0000_808B,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8009,
    0x0000_0000_0000_008A,
    0x0000_0000_0000_0088,
    0x0000_0000_8000_8009,
    0x0000_0000_8000_000A,
    0x0000_0000_8000_808B,
    0x8000_0000_0000_008B,
    0x8000_0000_0000_8089,
    0x8000_0000_0000_8003,
    0x8000_0000_0000_8002,
    0x8000_0000_0000_0080,
    0x0000_0000_0000_800A,
    0x8000_0000_8000_000A,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8080,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8008,
];

/// Rotation offsets, indexed `x + 5 * y`.
const KECCAK_ROT: [u32; 25] = [
    0, 1, 62, 28, 27, //
    36, 44, 6, 55, 20, //
    3, 10, 43, 25, 39, //
    41, 45, 15, 21, 8, //
    18, 2, 61, 56, 14,
];

fn keccak_f(a: &mut [u64; 25]) {
    for rc in KECCAK_RC {
        // θ
        let mut c = [0u64; 5];
        for x in 0..5 {
            c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
        }
        for x in 0..5 {
            let d = c[(x + 4) % 5] ^ c[(x + 1) % 5].rotate_left(1);
            for y in 0..5 {
                a[x + 5 * y] ^= d;
            }
        }
        // ρ and π
        let mut b = [0u64; 25];
        for x in 0..5 {
            for y in 0..5 {
                b[y + 5 * ((2 * x + 3 * y) % 5)] = a[x + 5 * y].rotate_left(KECCAK_ROT[x + 5 * y]);
            }
        }
        // χ
        for x in 0..5 {
            for y in 0..5 {
                a[x + 5 * y] = b[x + 5 * y] ^ (!b[(x + 1) % 5 + 5 * y] & b[(x + 2) % 5 + 5 * y]);
            }
        }
        // ι
        a[0] ^= rc;
    }
}

/// A 256-bit sponge over Keccak-f[1600] with the given domain padding byte (0x01: original
/// Keccak as Ethereum uses it; 0x06: FIPS 202 SHA3-256).
fn sponge256(data: &[u8], pad: u8) -> [u8; 32] {
    const RATE: usize = 136;
    let mut state = [0u64; 25];
    let absorb = |block: &[u8; RATE], state: &mut [u64; 25]| {
        for (i, lane) in block.chunks_exact(8).enumerate() {
            state[i] ^= u64::from_le_bytes(lane.try_into().expect("8 bytes"));
        }
        keccak_f(state);
    };
    let mut chunks = data.chunks_exact(RATE);
    for block in &mut chunks {
        absorb(block.try_into().expect("a full block"), &mut state);
    }
    let rest = chunks.remainder();
    let mut last = [0u8; RATE];
    last[..rest.len()].copy_from_slice(rest);
    last[rest.len()] ^= pad;
    last[RATE - 1] ^= 0x80;
    absorb(&last, &mut state);
    let mut out = [0u8; 32];
    for (i, lane) in state.iter().take(4).enumerate() {
        out[8 * i..8 * i + 8].copy_from_slice(&lane.to_le_bytes());
    }
    out
}

/// Keccak-256 as Ethereum uses it (not FIPS SHA3-256, which pads differently).
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    sponge256(data, 0x01)
}

/// Whether a mixed-case Ethereum address (`0x` + 40 hex digits) carries a correct EIP-55
/// checksum: a letter is upper-case exactly when the matching nibble of the Keccak-256 hash of
/// the lower-case address is 8 or more.
pub fn eip55(addr: &str) -> bool {
    let Some(hex) = addr.strip_prefix("0x").or_else(|| addr.strip_prefix("0X")) else {
        return false;
    };
    if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let hash = keccak256(hex.to_ascii_lowercase().as_bytes());
    hex.bytes().enumerate().all(|(i, c)| {
        let nibble = (hash[i / 2] >> (4 * (1 - i % 2))) & 0x0f;
        match c {
            b'a'..=b'f' => nibble < 8,
            b'A'..=b'F' => nibble >= 8,
            _ => true,
        }
    })
}

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Decodes Base62 with the alphabet `0-9A-Za-z`; `None` on other characters or overflow.
pub fn base62_decode(s: &str) -> Option<u64> {
    s.bytes().try_fold(0u64, |n, c| {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A' + 10,
            b'a'..=b'z' => c - b'a' + 36,
            _ => return None,
        };
        n.checked_mul(62)?.checked_add(u64::from(v))
    })
}

/// Encodes `n` in Base62 (`0-9A-Za-z`), left-padded with `0` to `width`.
pub fn base62_encode(mut n: u64, width: usize) -> String {
    const A: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while n > 0 {
        out.push(A[(n % 62) as usize]);
        n /= 62;
    }
    while out.len() < width {
        out.push(b'0');
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Vec<u8> {
        digits(s).unwrap()
    }

    #[test]
    fn luhn_accepts_valid_and_rejects_one_digit_off() {
        assert!(luhn(&d("4539 1488 0343 6467")));
        assert!(luhn(&d("79927398713")));
        assert!(!luhn(&d("79927398710")));
        assert!(!luhn(&d("4539 1488 0343 6468")));
        assert!(!luhn(&[5]));
    }

    #[test]
    fn iban_mod97_on_published_examples() {
        for iban in [
            "GB82WEST12345698765432",
            "DE89370400440532013000",
            "NL91ABNA0417164300",
            "fr1420041010050500013m02606",
        ] {
            assert!(iban_mod97(iban), "{iban}");
            assert_eq!(
                iban_length(&iban[..2].to_ascii_uppercase()),
                Some(iban.len()),
                "{iban}"
            );
        }
        assert!(!iban_mod97("GB82WEST12345698765433"));
        assert!(!iban_mod97("GB83WEST12345698765432"));
        assert!(!iban_mod97("GB8"));
        assert_eq!(iban_length("US"), None);
    }

    #[test]
    fn verhoeff_examples() {
        assert!(verhoeff(&d("2363")));
        assert!(!verhoeff(&d("2364")));
        assert!(verhoeff(&d("1428570")));
    }

    #[test]
    fn base58check_on_known_addresses() {
        assert!(base58_address("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"));
        assert!(base58_address("1CC3X2gu58d6wXUWMffpuzN9JAfTUWu4Kj"));
        assert!(!base58_address("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"));
        assert!(
            !base58_address("1A1zP1eP5QGefi2DMPTfTL5SLmv7Divf0a"),
            "0 is not Base58"
        );
    }

    #[test]
    fn bech32_and_bech32m_vectors() {
        // BIP-173 / BIP-350 checksum vectors.
        assert_eq!(bech32_decode("A12UEL5L").unwrap().2, Bech32Variant::Bech32);
        assert_eq!(
            bech32_decode("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw")
                .unwrap()
                .2,
            Bech32Variant::Bech32
        );
        assert_eq!(bech32_decode("A1LQFN3A").unwrap().2, Bech32Variant::Bech32m);
        assert_eq!(
            bech32_decode("abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx")
                .unwrap()
                .2,
            Bech32Variant::Bech32m
        );
        assert!(
            bech32_decode("A1G7SGD8").is_none(),
            "checksum over the upper-case HRP"
        );
        assert!(bech32_decode("li1dgmt3").is_none(), "too short");
        assert!(bech32_decode("A12uEL5L").is_none(), "mixed case");
        assert!(segwit_address("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"));
        assert!(segwit_address("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4"));
        assert!(!segwit_address(
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5"
        ));
    }

    #[test]
    fn keccak_and_sha3_share_the_permutation() {
        assert_eq!(
            hex::encode(keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        // FIPS 202 SHA3-256("abc"), and a message longer than one block.
        assert_eq!(
            hex::encode(sponge256(b"abc", 0x06)),
            "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"
        );
        let long = vec![b'a'; 200];
        // Computed with Python's hashlib.sha3_256.
        assert_eq!(
            hex::encode(sponge256(&long, 0x06)),
            "cce34485baf2bf2aca99b94833892a4f52896d3d153f7b840cc4f9fe695f1387"
        );
    }

    #[test]
    fn eip55_vectors() {
        for a in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            assert!(eip55(a), "{a}");
        }
        assert!(!eip55("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"));
        assert!(!eip55("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA"));
    }

    #[test]
    fn crc32_and_base62() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(base62_decode("10"), Some(62));
        assert_eq!(base62_decode("z"), Some(61));
        assert_eq!(base62_decode("a-"), None);
        assert_eq!(base62_encode(62, 6), "000010");
        let n = u64::from(crc32(b"hello"));
        assert_eq!(base62_decode(&base62_encode(n, 6)), Some(n));
    }
}
