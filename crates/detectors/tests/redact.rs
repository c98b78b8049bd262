//! Redaction on detector output: every operator, overlapping spans, char and byte offsets,
//! pseudonymisation round trips and the vault's saved form.

use emmental_detectors::redact::{Offsets, Operator, Vault, VaultEntry, hmac_sha256, redact};
use emmental_detectors::{Detector, Input, Span, registry};

const TEXT: &str =
    "Jürgen (jürgen@acme.io) paid with 4526 0181 5908 3012; mail jürgen@acme.io again.";

fn detected(text: &str) -> Vec<Span> {
    registry::build_rule_based("pii.rules")
        .unwrap()
        .detect(&Input::text(text))
        .unwrap()
        .spans
}

#[test]
fn replace_puts_types_and_reports_where() {
    let spans = detected(TEXT);
    let r = redact(TEXT, &spans, Offsets::Bytes, &Operator::Replace).unwrap();
    assert_eq!(
        r.text,
        "Jürgen (<EMAIL_ADDRESS>) paid with <CREDIT_CARD>; mail <EMAIL_ADDRESS> again."
    );
    assert_eq!(r.spans.len(), 3);
    for s in &r.spans {
        assert_eq!(s.text(&r.text), format!("<{}>", s.kind));
        let chars: String = r.text.chars().skip(s.start).take(s.end - s.start).collect();
        assert_eq!(chars, s.text(&r.text));
    }
}

#[test]
fn mask_keeps_the_last_digits_when_asked() {
    let spans = detected(TEXT);
    let card: Vec<Span> = spans
        .into_iter()
        .filter(|s| s.kind == "CREDIT_CARD")
        .collect();
    let r = redact(
        TEXT,
        &card,
        Offsets::Chars,
        &Operator::Mask {
            with: '#',
            keep_last: 4,
        },
    )
    .unwrap();
    assert!(
        r.text.contains("paid with ###############3012;"),
        "{}",
        r.text
    );
    let all = redact(TEXT, &card, Offsets::Chars, &Operator::mask()).unwrap();
    assert!(
        all.text.contains("paid with *******************;"),
        "{}",
        all.text
    );
    // Asking to keep more than there is keeps it all.
    let t = "pin 1234";
    let s = [Span::from_chars(t, 4, 8, "PIN", 1.0)];
    assert_eq!(
        redact(
            t,
            &s,
            Offsets::Chars,
            &Operator::Mask {
                with: '*',
                keep_last: 9
            }
        )
        .unwrap()
        .text,
        t
    );
}

#[test]
fn keyed_hash_is_stable_and_depends_on_the_key() {
    let spans = detected(TEXT);
    let a = redact(TEXT, &spans, Offsets::Bytes, &Operator::hash("k1"))
        .unwrap()
        .text;
    let b = redact(TEXT, &spans, Offsets::Bytes, &Operator::hash("k1"))
        .unwrap()
        .text;
    let c = redact(TEXT, &spans, Offsets::Bytes, &Operator::hash("k2"))
        .unwrap()
        .text;
    assert_eq!(a, b);
    assert_ne!(a, c);
    // The same address hashes the same both times it appears: joins still work.
    let expected = &hex::encode(hmac_sha256(b"k1", "jürgen@acme.io".as_bytes()))[..16];
    assert_eq!(
        a.matches(&format!("<EMAIL_ADDRESS:{expected}>")).count(),
        2,
        "{a}"
    );
    assert!(redact(TEXT, &spans, Offsets::Bytes, &Operator::hash("")).is_err());
    let long = Operator::Hash {
        key: b"k".to_vec(),
        hex_len: 65,
    };
    assert!(redact(TEXT, &spans, Offsets::Bytes, &long).is_err());
}

#[test]
fn overlapping_spans_merge_and_take_the_strongest_type() {
    let t = "call 4526 0181 5908 3012 now";
    let spans = [
        Span::from_chars(t, 5, 24, "CREDIT_CARD", 0.95),
        Span::from_chars(t, 5, 19, "PHONE_NUMBER", 0.6),
        Span::from_chars(t, 15, 24, "ZIP_CODE", 0.3),
    ];
    let r = redact(t, &spans, Offsets::Chars, &Operator::Replace).unwrap();
    assert_eq!(r.text, "call <CREDIT_CARD> now");
    // Partial overlap: one region over both.
    let spans = [
        Span::from_chars(t, 5, 14, "A", 0.5),
        Span::from_chars(t, 10, 24, "B", 0.9),
    ];
    assert_eq!(
        redact(t, &spans, Offsets::Chars, &Operator::Replace)
            .unwrap()
            .text,
        "call <B> now"
    );
    // Touching spans stay two.
    let spans = [
        Span::from_chars(t, 5, 9, "A", 0.5),
        Span::from_chars(t, 9, 24, "B", 0.9),
    ];
    assert_eq!(
        redact(t, &spans, Offsets::Chars, &Operator::Replace)
            .unwrap()
            .text,
        "call <A><B> now"
    );
}

#[test]
fn char_and_byte_offsets_agree_and_bad_spans_are_errors() {
    let spans = detected(TEXT);
    let by_bytes = redact(TEXT, &spans, Offsets::Bytes, &Operator::Replace).unwrap();
    let by_chars = redact(TEXT, &spans, Offsets::Chars, &Operator::Replace).unwrap();
    assert_eq!(by_bytes, by_chars);
    // Char offsets only (as JSON clients send them): byte fields are ignored.
    let mut s = Span::from_chars(TEXT, 8, 22, "EMAIL_ADDRESS", 1.0);
    s.byte_start = 0;
    s.byte_end = 0;
    assert!(
        redact(TEXT, &[s.clone()], Offsets::Chars, &Operator::Replace)
            .unwrap()
            .text
            .starts_with("Jürgen (<EMAIL_ADDRESS>)")
    );
    // Inside "ü": not a character boundary.
    let split = Span {
        byte_start: 2,
        byte_end: 3,
        ..s.clone()
    };
    let e = redact(TEXT, &[split], Offsets::Bytes, &Operator::Replace)
        .unwrap_err()
        .to_string();
    assert!(e.contains("splits a character"), "{e}");
    let past = Span {
        start: 10,
        end: 500,
        ..s
    };
    let e = redact(TEXT, &[past], Offsets::Chars, &Operator::Replace)
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not fit"), "{e}");
    // No spans: the text as it was.
    assert_eq!(
        redact(TEXT, &[], Offsets::Bytes, &Operator::Replace)
            .unwrap()
            .text,
        TEXT
    );
}

#[test]
fn pseudonyms_are_consistent_and_restore_round_trips() {
    let mut vault = Vault::new();
    let spans = detected(TEXT);
    let p = vault.pseudonymize(TEXT, &spans, Offsets::Bytes).unwrap();
    assert_eq!(
        p.text,
        "Jürgen (<EMAIL_ADDRESS_1>) paid with <CREDIT_CARD_1>; mail <EMAIL_ADDRESS_1> again."
    );
    assert_eq!(vault.restore(&p.text), TEXT);
    // A second text in the same session: known values keep their placeholder, new ones count on.
    let t2 = "Reply to jürgen@acme.io and ana@acme.io.";
    let p2 = vault
        .pseudonymize(t2, &detected(t2), Offsets::Bytes)
        .unwrap();
    assert_eq!(p2.text, "Reply to <EMAIL_ADDRESS_1> and <EMAIL_ADDRESS_2>.");
    // A model's answer mentions placeholders in its own words; unknown ones stay as they are.
    let answer = "I wrote to <EMAIL_ADDRESS_2> and <EMAIL_ADDRESS_1>, not <PERSON_7>.";
    assert_eq!(
        vault.restore(answer),
        "I wrote to ana@acme.io and jürgen@acme.io, not <PERSON_7>."
    );
    assert_eq!(vault.len(), 3);
}

#[test]
fn vault_saves_and_loads_and_keeps_counting() {
    let mut vault = Vault::new();
    vault.placeholder("PERSON", "Ana");
    vault.placeholder("PERSON", "Bo");
    vault.placeholder("EMAIL_ADDRESS", "a@b.io");
    let json = vault.to_json();
    assert!(json.starts_with("{\"version\":1,"), "{json}");
    let mut back = Vault::from_json(&json).unwrap();
    assert_eq!(back, vault);
    assert_eq!(back.placeholder("PERSON", "Bo"), "<PERSON_2>");
    assert_eq!(back.placeholder("PERSON", "Cy"), "<PERSON_3>");
    assert_eq!(
        back.entries()[3],
        VaultEntry {
            placeholder: "<PERSON_3>".into(),
            kind: "PERSON".into(),
            value: "Cy".into()
        }
    );
    for bad in [
        r#"{"version":2,"entries":[]}"#,
        r#"{"version":1,"entries":[{"placeholder":"<PERSON_1>","kind":"EMAIL","value":"x"}]}"#,
        r#"{"version":1,"entries":[{"placeholder":"<P_1>","kind":"P","value":"x"},{"placeholder":"<P_1>","kind":"P","value":"y"}]}"#,
        r#"{"version":1,"entries":[],"extra":true}"#,
        "not json",
    ] {
        assert!(Vault::from_json(bad).is_err(), "{bad}");
    }
}

#[test]
fn random_spans_give_a_result_or_an_error_never_a_panic() {
    let mut rng = emmental_core::rng::SplitMix64::new(3);
    let text = "Grüße, 😀 Jürgen — 4526 0181 5908 3012 and ana@acme.io";
    let ops = [
        Operator::Replace,
        Operator::mask(),
        Operator::hash("k"),
        Operator::Mask {
            with: '·',
            keep_last: 3,
        },
    ];
    for _ in 0..2000 {
        let spans: Vec<Span> = (0..1 + rng.below(4))
            .map(|_| {
                let (a, b) = (rng.below(text.len() + 3), rng.below(text.len() + 3));
                let (c, d) = (rng.below(60), rng.below(60));
                Span {
                    start: c,
                    end: d,
                    byte_start: a,
                    byte_end: b,
                    kind: "X y".into(),
                    score: 0.5,
                }
            })
            .collect();
        for offsets in [Offsets::Bytes, Offsets::Chars] {
            for op in &ops {
                if let Ok(r) = redact(text, &spans, offsets, op) {
                    for s in &r.spans {
                        assert!(
                            r.text.is_char_boundary(s.byte_start)
                                && r.text.is_char_boundary(s.byte_end)
                        );
                    }
                }
            }
            let mut v = Vault::new();
            if let Ok(p) = v.pseudonymize(text, &spans, offsets) {
                assert_eq!(v.restore(&p.text), text);
            }
        }
    }
}
