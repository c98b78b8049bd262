//! Canonical JSON as RFC 8785 (the JSON Canonicalization Scheme, JCS) defines it: the one byte
//! string that every conforming implementation produces for a JSON value, so that a hash over
//! it can be recomputed by anyone, in any language.
//!
//! The rules, in short:
//! - no whitespace; object members sorted by their names compared as UTF-16 code units;
//! - strings escape only `"`, `\` and the control characters U+0000–U+001F (as `\b`, `\t`,
//!   `\n`, `\f`, `\r`, or `\u00xx` with lowercase hex); every other character is written as is,
//!   in UTF-8;
//! - numbers are IEEE 754 doubles written as ECMAScript's `Number.prototype.toString` writes
//!   them: the shortest digits that round-trip, plain notation from 1e-6 up to below 1e21 and
//!   exponent notation (`1e-7`, `1.5e+21`) outside it, `-0` as `0`. An integer beyond 2^53 thus
//!   loses precision, as it would in any JavaScript reader; put such values in strings.

use serde_json::Value;

/// The canonical (RFC 8785) text of `value`.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

pub(crate) fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            // serde_json numbers are finite: u64, i64 or a finite f64. An integer that a
            // double holds exactly is written as itself, without going through a double.
            match n.as_i64() {
                Some(i) if i.unsigned_abs() <= EXACT_INTEGERS => {
                    out.push_str(itoa_buf(i).as_str());
                }
                _ => write_number(out, n.as_f64().unwrap_or(0.0)),
            }
        }
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(members) => {
            let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
            sorted.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (name, member)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, name);
                out.push(':');
                write_value(out, member);
            }
            out.push('}');
        }
    }
}

/// A JSON string literal with RFC 8785's escaping.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if c < ' ' => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let b = c as u8;
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A finite double as ECMAScript writes it (ECMA-262, Number::toString, radix 10).
pub(crate) fn write_number(out: &mut String, x: f64) {
    if x == 0.0 || !x.is_finite() {
        // -0 is written as 0; non-finite values cannot occur in JSON.
        out.push('0');
        return;
    }
    // An integer up to 2^53 is its own digits (ECMA-262 writes integers below 10^21 in
    // full); most numbers in the audit log (timings in microseconds, counts) are such.
    if x.fract() == 0.0 && x.abs() <= EXACT_INTEGERS as f64 {
        out.push_str(itoa_buf(x as i64).as_str());
        return;
    }
    if x < 0.0 {
        out.push('-');
    }
    let (digits, n) = shortest_digits(x.abs());
    // ECMA-262's k (number of digits) and n (x = 0.d1d2… × 10^n).
    let k = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if n - 1 < 0 { '-' } else { '+' });
        out.push_str(&(n - 1).abs().to_string());
    }
}

/// The shortest decimal digits `s` and exponent `n` with `x = 0.s × 10^n` that round-trip to
/// the positive finite `x`, chosen as ECMA-262 requires: among several such digit strings of
/// the shortest length, the one closest to `x`, and on a tie the even one.
fn shortest_digits(x: f64) -> (String, i32) {
    shortest_digits_with(x, true)
}

/// [`shortest_digits`]; `fast` takes Rust's digits without checking for another candidate
/// when there cannot be one (kept switchable so a test can compare with the full check).
fn shortest_digits_with(x: f64, fast: bool) -> (String, i32) {
    // Rust's `{:e}` gives shortest digits that round-trip (`d[.ddd]e[-]x`), but on a tie
    // between two it does not always pick the even one.
    let sci = format!("{x:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let n = exponent.parse::<i32>().unwrap_or(0) + 1;
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    // Two distinct decimals of at most 15 significant digits never round to the same normal
    // double (a double carries 15.95 decimal digits: DBL_DIG is 15), so with 15 digits or
    // fewer no other candidate of the same length can round-trip.
    if fast && k <= 15 && x >= f64::MIN_POSITIVE {
        return (digits, n);
    }
    // Every candidate is an integer `c` standing for c × 10^scale.
    let scale = n - k;
    let Ok(s) = digits.parse::<u64>() else {
        return (digits, n);
    };
    let round_trips = |c: u64| c > 0 && format!("{c}e{scale}").parse::<f64>() == Ok(x);
    let other = s.checked_sub(1).is_some_and(round_trips) || round_trips(s + 1);
    if !other {
        return (digits, n);
    }
    // More than one k-digit candidate: find the closest with x's exact decimal expansion
    // (at most 767 significant digits). The closest round-tripping candidate is one of the
    // two integers around x / 10^scale.
    let exact = format!("{x:.800e}");
    let (mantissa, exponent) = exact.split_once('e').unwrap_or((&exact, "0"));
    let exact_n = exponent.parse::<i32>().unwrap_or(0) + 1;
    let exact_digits: Vec<u8> = mantissa.bytes().filter(|b| b.is_ascii_digit()).collect();
    let int_len = usize::try_from(exact_n - scale)
        .unwrap_or(0)
        .min(exact_digits.len());
    let (int_part, frac) = exact_digits.split_at(int_len);
    let below: u64 = int_part
        .iter()
        .fold(0, |acc, d| acc * 10 + u64::from(d - b'0'));
    // frac compared with one half.
    let half = match frac.first() {
        None => std::cmp::Ordering::Less,
        Some(&d) if d != b'5' => d.cmp(&b'5'),
        Some(_) if frac[1..].iter().any(|d| *d != b'0') => std::cmp::Ordering::Greater,
        Some(_) => std::cmp::Ordering::Equal,
    };
    let above = below + 1;
    let chosen = match (round_trips(below), round_trips(above)) {
        (true, false) => below,
        (false, true) => above,
        (true, true) => match half {
            std::cmp::Ordering::Less => below,
            std::cmp::Ordering::Greater => above,
            std::cmp::Ordering::Equal if below.is_multiple_of(2) => below,
            std::cmp::Ordering::Equal => above,
        },
        (false, false) => s,
    };
    let mut digits = chosen.to_string();
    let k = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let n = scale + k;
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    (digits, n)
}

/// Integers up to 2^53 are exact in a double.
const EXACT_INTEGERS: u64 = 1 << 53;

/// The decimal digits of `i`, without a heap allocation.
fn itoa_buf(i: i64) -> Digits {
    let mut d = Digits {
        buf: [0; 20],
        start: 20,
    };
    let mut v = i.unsigned_abs();
    loop {
        d.start -= 1;
        d.buf[d.start] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if i < 0 {
        d.start -= 1;
        d.buf[d.start] = b'-';
    }
    d
}

/// The text of an integer, in a fixed buffer (an `i64` takes at most 20 bytes with its sign).
struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    fn as_str(&self) -> &str {
        // Only ASCII digits and '-' were written.
        std::str::from_utf8(&self.buf[self.start..]).unwrap_or("0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The shortcuts (integers, and short digit strings taken without looking for a tie)
    /// write what the full algorithm writes: on random bit patterns, on decimals of few
    /// digits as scores and timings are, and on integers around 2^53.
    #[test]
    fn shortcuts_agree_with_the_full_algorithm() {
        let full = |x: f64| {
            let mut out = String::new();
            if x < 0.0 {
                out.push('-');
            }
            let (digits, n) = shortest_digits_with(x.abs(), false);
            out.push_str(&format!("{digits}e{n}"));
            out
        };
        let fast = |x: f64| {
            let mut out = String::new();
            if x < 0.0 {
                out.push('-');
            }
            let (digits, n) = shortest_digits(x.abs());
            out.push_str(&format!("{digits}e{n}"));
            out
        };
        // SplitMix64, fixed seed.
        let mut state = 0x5eed_cafe_u64;
        let mut next_u64 = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let mut xs: Vec<f64> = Vec::new();
        for _ in 0..40_000 {
            let x = f64::from_bits(next_u64());
            if x.is_finite() && x != 0.0 {
                xs.push(x);
            }
            // A score or a timing: a few digits at some scale.
            let digits = next_u64() % 10_000_000;
            let scale = (next_u64() % 40) as i32 - 20;
            xs.push(format!("{digits}e{scale}").parse().unwrap());
        }
        for x in xs {
            if x != 0.0 {
                assert_eq!(fast(x), full(x), "{x:e} ({:#018x})", x.to_bits());
            }
        }
        for i in [1_i64, 7, 42, 1 << 52, (1 << 53) - 1, 1 << 53, -(1 << 53)] {
            let mut general = String::new();
            let (digits, n) = shortest_digits_with(i.unsigned_abs() as f64, false);
            if i < 0 {
                general.push('-');
            }
            general.push_str(&digits);
            general.extend(std::iter::repeat_n(
                '0',
                (n as usize).saturating_sub(digits.len()),
            ));
            assert_eq!(number((i as f64).to_bits()), general, "{i}");
            assert_eq!(to_string(&json!(i)), general, "{i}");
        }
    }

    fn number(bits: u64) -> String {
        let mut out = String::new();
        write_number(&mut out, f64::from_bits(bits));
        out
    }

    /// The number examples of RFC 8785, Appendix B (IEEE 754 bit patterns and their text).
    #[test]
    fn numbers_match_the_rfc_8785_examples() {
        for (bits, text) in [
            (0x0000_0000_0000_0000, "0"),
            (0x8000_0000_0000_0000, "0"),
            (0x0000_0000_0000_0001, "5e-324"),
            (0x8000_0000_0000_0001, "-5e-324"),
            (0x7fef_ffff_ffff_ffff, "1.7976931348623157e+308"),
            (0xffef_ffff_ffff_ffff, "-1.7976931348623157e+308"),
            (0x4340_0000_0000_0000, "9007199254740992"),
            (0xc340_0000_0000_0000, "-9007199254740992"),
            (0x4430_0000_0000_0000, "295147905179352830000"),
            (0x44b5_2d02_c7e1_4af5, "9.999999999999997e+22"),
            (0x44b5_2d02_c7e1_4af6, "1e+23"),
            (0x44b5_2d02_c7e1_4af7, "1.0000000000000001e+23"),
            (0x444b_1ae4_d6e2_ef4e, "999999999999999700000"),
            (0x444b_1ae4_d6e2_ef4f, "999999999999999900000"),
            (0x444b_1ae4_d6e2_ef50, "1e+21"),
            (0x3eb0_c6f7_a0b5_ed8c, "9.999999999999997e-7"),
            (0x3eb0_c6f7_a0b5_ed8d, "0.000001"),
            (0x41b3_de43_5555_5553, "333333333.3333332"),
            (0x41b3_de43_5555_5554, "333333333.33333325"),
            (0x41b3_de43_5555_5555, "333333333.3333333"),
            (0x41b3_de43_5555_5556, "333333333.3333334"),
            (0x41b3_de43_5555_5557, "333333333.33333343"),
            (0xbecb_f647_612f_3696, "-0.0000033333333333333333"),
            (0x4314_3ff3_c1cb_0959, "1424953923781206.2"),
        ] {
            assert_eq!(number(bits), text, "bits {bits:#018x}");
        }
    }

    #[test]
    fn numbers_in_plain_and_exponent_ranges() {
        for (x, text) in [
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1, "0.1"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (123.456, "123.456"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (0.000_123, "0.000123"),
        ] {
            let mut out = String::new();
            write_number(&mut out, x);
            assert_eq!(out, text, "{x}");
        }
    }

    #[test]
    fn objects_sort_by_utf16_code_units_and_strings_escape_only_what_they_must() {
        // U+20AC (€) sorts after U+1F600 (😀) in UTF-16 (0xD83D < 0x20AC is false: 0x20AC <
        // 0xD83D), the reverse of their code point order: RFC 8785's own example.
        let v = json!({
            "\u{20ac}": "Euro Sign",
            "\r": "Carriage Return",
            "\u{fb33}": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\u{1f600}": "Emoji: Grinning Face",
            "\u{80}": "Control",
            "\u{f6}": "Latin Small Letter O With Diaeresis"
        });
        assert_eq!(
            to_string(&v),
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
             \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
             \"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
        );
        assert_eq!(
            to_string(&json!(["\u{1}\u{1f}\"\\/\u{7f}é", null, true, [], {}])),
            "[\"\\u0001\\u001f\\\"\\\\/\u{7f}é\",null,true,[],{}]"
        );
    }

    #[test]
    fn integers_are_written_as_doubles() {
        assert_eq!(
            to_string(&json!([0, -7, 42, 9_007_199_254_740_993_u64])),
            "[0,-7,42,9007199254740992]"
        );
    }
}
