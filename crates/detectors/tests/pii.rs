//! The `pii.rules` detector as users get it from the registry (Unicode-normalised): for every
//! recognizer, values it must find and look-alikes it must leave alone; overlap resolution;
//! offsets on non-ASCII text; and the shipped calibration against the measured figures.

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use emmental_detectors::metrics::SpanReport;
use emmental_detectors::pii::{PiiDetector, describe, rule_recognizers};
use emmental_detectors::{Detector, DetectorError, Input, Recognizer, Span, data, registry};

static PII: LazyLock<Arc<dyn Detector>> =
    LazyLock::new(|| registry::build_rule_based("pii.rules").unwrap());

/// (type, covered text) of every span found.
fn found(text: &str) -> Vec<(String, String)> {
    PII.detect(&Input::text(text))
        .unwrap()
        .spans
        .iter()
        .map(|s| (s.kind.clone(), text[s.byte_start..s.byte_end].to_string()))
        .collect()
}

/// Asserts that `text` yields exactly one span, of `kind`, covering `value`.
#[track_caller]
fn finds(text: &str, kind: &str, value: &str) {
    let f = found(text);
    assert_eq!(f, [(kind.to_string(), value.to_string())], "in {text:?}");
}

/// Asserts that no span of `kind` is found in `text`.
#[track_caller]
fn misses(text: &str, kind: &str) {
    let f = found(text);
    assert!(
        f.iter().all(|(k, _)| k != kind),
        "{kind} found in {text:?}: {f:?}"
    );
}

#[test]
fn finds_email_addresses_including_unicode_and_subdomains() {
    finds(
        "write to dana.whitfield@northwind-legal.com today",
        "EMAIL_ADDRESS",
        "dana.whitfield@northwind-legal.com",
    );
    finds(
        "Kontakt: jürgen.müller@beispiel-firma.de",
        "EMAIL_ADDRESS",
        "jürgen.müller@beispiel-firma.de",
    );
    finds(
        "<ops-team@mail.fabrikam.co.uk>",
        "EMAIL_ADDRESS",
        "ops-team@mail.fabrikam.co.uk",
    );
    misses(
        "the @mention and user@localhost are not addresses",
        "EMAIL_ADDRESS",
    );
    misses("a..b@x.com", "DOMAIN_NAME");
}

#[test]
fn finds_phone_numbers_in_international_and_national_formats() {
    for (text, value) in [
        ("call +1 (415) 555-0132 now", "+1 (415) 555-0132"),
        ("Desk: +41 (0)96 471 07 95", "+41 (0)96 471 07 95"),
        ("fax 001-518-640-0854", "001-518-640-0854"),
        ("office (579)888-3058", "(579)888-3058"),
        ("Please call me at 0494 92 82 32", "0494 92 82 32"),
        ("Mobile: 03.93.92.16.85", "03.93.92.16.85"),
        ("messages to 079 0442 1744", "079 0442 1744"),
        ("Phone: 451 5986", "451 5986"),
        ("desk: +1-604-696-5272x565", "+1-604-696-5272x565"),
        ("Llámame al +34 912 345 678", "+34 912 345 678"),
        ("ring (312) 555-0123 ext. 42", "(312) 555-0123 ext. 42"),
    ] {
        finds(text, "PHONE_NUMBER", value);
    }
}

#[test]
fn leaves_numbers_that_are_not_phones() {
    for text in [
        "Order number 2024-558-117 has shipped.",
        "The population grew to 8 336 817 people.",
        "Revenue was $1,234,567.89 in Q3.",
        "Between 1990 2000 and 2010.",
        "version 10.0.19045.2965",
        "Invoice no. 00451238 is overdue.",
        "Timestamp 1699999999 is in seconds.",
        "ISBN 978-3-16-148410-0",
        "My lucky numbers are 4 8 15 16 23 42.",
        "Our offices are located at 6556 106 Rue Ettatawer",
        // A closing bracket before the opening one (once a panic).
        "see 32)(192.168 and 0181)(5908 3012",
    ] {
        misses(text, "PHONE_NUMBER");
    }
}

#[test]
fn finds_cards_by_luhn_and_issuer_and_rejects_near_misses() {
    finds(
        "Visa 4526 0181 5908 3012, thanks",
        "CREDIT_CARD",
        "4526 0181 5908 3012",
    );
    finds(
        "card 5196-0308-2462-8192",
        "CREDIT_CARD",
        "5196-0308-2462-8192",
    );
    finds("Amex 3432 319487 57494", "CREDIT_CARD", "3432 319487 57494");
    finds(
        "card 4454794511390933 and 2022",
        "CREDIT_CARD",
        "4454794511390933",
    );
    // One digit off fails Luhn.
    misses("Visa 4526 0181 5908 3013", "CREDIT_CARD");
    // Luhn-valid but no card issuer and no context: below the threshold.
    misses("ref 1234 5678 9012 3452", "CREDIT_CARD");
    misses("4444 4444 4444 4444 is a placeholder", "CREDIT_CARD");
    // An IMEI passes Luhn too; its context lowers it.
    misses("IMEI 490154203237518", "CREDIT_CARD");
}

#[test]
fn published_test_cards_and_example_addresses_score_at_the_threshold() {
    let d = PII
        .detect(&Input::text(
            "card 4111 1111 1111 1111, mail someone@example.com",
        ))
        .unwrap();
    assert_eq!(d.spans.len(), 2);
    assert!(d.spans.iter().all(|s| s.score == 0.5), "{:?}", d.spans);
    let strict = PiiDetector::new(describe(), rule_recognizers()).with_threshold(0.6);
    let d = strict
        .detect(&Input::text(
            "card 4111 1111 1111 1111, mail someone@example.com",
        ))
        .unwrap();
    assert_eq!(d.label, "clean");
}

#[test]
fn finds_ibans_by_length_and_mod97() {
    finds(
        "IBAN DE62 3704 0044 0532 0130 01 please",
        "IBAN_CODE",
        "DE62 3704 0044 0532 0130 01",
    );
    finds(
        "my iban is gb42nawi04454264788619",
        "IBAN_CODE",
        "gb42nawi04454264788619",
    );
    finds(
        "Virement FR7630006000011234567890189.",
        "IBAN_CODE",
        "FR7630006000011234567890189",
    );
    finds(
        "pay GB82 WEST 1234 5698 7654 32 and more words",
        "IBAN_CODE",
        "GB82 WEST 1234 5698 7654 32",
    );
    misses("IBAN DE63 3704 0044 0532 0130 01", "IBAN_CODE");
    misses("XX82WEST12345698765432", "IBAN_CODE");
    misses("GB82WEST1234569876543", "IBAN_CODE");
}

#[test]
fn finds_ip_addresses_but_not_versions() {
    finds("from 185.220.101.33 again", "IP_ADDRESS", "185.220.101.33");
    finds("ssh deploy@10.12.0.5 -p 2222", "IP_ADDRESS", "10.12.0.5");
    finds(
        "host 2001:db8:85a3::8a2e:370:7334 is up",
        "IP_ADDRESS",
        "2001:db8:85a3::8a2e:370:7334",
    );
    finds("listens on 0.0.0.0:8080", "IP_ADDRESS", "0.0.0.0");
    misses("upgrade to version 10.2.3.4 now", "IP_ADDRESS");
    misses("octet 256.1.1.1 is out of range", "IP_ADDRESS");
    misses("OID 1.3.6.1.4.1", "IP_ADDRESS");
    misses("block 10.0.0.0/8", "IP_ADDRESS");
    misses(
        "the ratio 12:13:52 and std::vec::Vec and a::b",
        "IP_ADDRESS",
    );
}

#[test]
fn finds_urls_and_domains_but_not_file_names() {
    finds(
        "Visit https://www.kestrel-analytics.com/careers.",
        "URL",
        "https://www.kestrel-analytics.com/careers",
    );
    finds(
        "(see https://docs.fabrikam.net/api)",
        "URL",
        "https://docs.fabrikam.net/api",
    );
    finds(
        "site greenleaf-bakery.com goes live",
        "DOMAIN_NAME",
        "greenleaf-bakery.com",
    );
    for text in [
        "run setup.py then read README.md",
        "set self.id and os.path",
        "e.g. and i.e.",
        "the file report.pdf",
    ] {
        misses(text, "DOMAIN_NAME");
        misses(text, "URL");
    }
}

#[test]
fn finds_dates_and_raises_dates_of_birth() {
    finds("DOB: 03/14/1987", "DATE_TIME", "03/14/1987");
    finds("the lease ends May 5, 2025.", "DATE_TIME", "May 5, 2025");
    finds(
        "born on 14 March 1987 in Leeds",
        "DATE_TIME",
        "14 March 1987",
    );
    finds(
        "at 2024-02-29T13:45:00Z",
        "DATE_TIME",
        "2024-02-29T13:45:00Z",
    );
    finds("founded in 2002.", "DATE_TIME", "2002");
    let plain = PII.detect(&Input::text("It was 7/5/1981.")).unwrap().spans[0].score;
    let born = PII
        .detect(&Input::text("She was born on 7/5/1981."))
        .unwrap()
        .spans[0]
        .score;
    assert!(born > plain, "{born} > {plain}");
    misses("2023-02-30 is not a day", "DATE_TIME");
    misses("May I help you?", "DATE_TIME");
    misses("build 1.2.34 fixed it", "DATE_TIME");
    misses("a 2048-bit key", "DATE_TIME");
}

#[test]
fn finds_us_ssns_and_rejects_never_issued_ones() {
    finds("Here's my SSN: 536-22-8149", "US_SSN", "536-22-8149");
    finds(
        "social security number 409 52 2002",
        "US_SSN",
        "409 52 2002",
    );
    for bad in [
        "SSN 000-12-3456",
        "SSN 666-45-6789",
        "SSN 912-45-6789",
        "SSN 536-00-8149",
        "SSN 536-22-0000",
        "SSN 078-05-1120",
        "SSN 123-45-6789",
    ] {
        misses(bad, "US_SSN");
    }
    // Nine digits without dashes or context are just a number.
    misses("batch 536228149 done", "US_SSN");
}

#[test]
fn finds_national_ids_with_check_digits() {
    finds("ITIN 912-78-3456", "US_ITIN", "912-78-3456");
    finds("NI number JG 10 37 94 B", "UK_NINO", "JG 10 37 94 B");
    misses("NI number QQ 12 34 56 C", "UK_NINO");
    finds("NHS number 202 972 9973", "UK_NHS", "202 972 9973");
    misses("NHS number 202 972 9974", "UK_NHS");
    finds("DNI 82903368Y", "ES_NIF", "82903368Y");
    misses("DNI 82903368Z", "ES_NIF");
    finds("NIE X9860206Z", "ES_NIE", "X9860206Z");
    finds(
        "codice fiscale RSSMRA85T10A562S",
        "IT_FISCAL_CODE",
        "RSSMRA85T10A562S",
    );
    misses("codice fiscale RSSMRA85T10A562T", "IT_FISCAL_CODE");
    finds("mijn BSN is 885393363", "NL_BSN", "885393363");
    misses("mijn BSN is 885393364", "NL_BSN");
    misses("order 885393363", "NL_BSN");
    finds("Aadhaar 3590 1396 2457", "IN_AADHAAR", "3590 1396 2457");
    misses("Aadhaar 3590 1396 2458", "IN_AADHAAR");
    finds("SIN 487 500 472", "CA_SIN", "487 500 472");
    finds("TFN 651 676 122", "AU_TFN", "651 676 122");
    finds(
        "My driver's license number is F162823540116",
        "US_DRIVER_LICENSE",
        "F162823540116",
    );
    finds("passport number: C03005988", "US_PASSPORT", "C03005988");
}

#[test]
fn finds_crypto_addresses_by_checksum() {
    finds(
        "send to 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa now",
        "CRYPTO",
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
    );
    finds(
        "wallet bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "CRYPTO",
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    );
    finds(
        "ETH 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "CRYPTO",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    );
    misses("send to 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb now", "CRYPTO");
    misses(
        "wallet bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",
        "CRYPTO",
    );
    misses("ETH 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "CRYPTO");
}

#[test]
fn ages_and_postcodes_only_with_their_words() {
    finds("a 35-year-old male", "AGE", "35");
    finds("I just turned 47", "AGE", "47");
    finds("My zip code is 35350", "ZIP_CODE", "35350");
    finds("ZIP: 394 13", "ZIP_CODE", "394 13");
    misses("turn 2 left after 47 metres", "AGE");
    misses("I'm 5 minutes away", "AGE");
    misses("we sold 35350 units", "ZIP_CODE");
}

#[test]
fn offsets_point_into_the_original_text_in_chars_and_bytes() {
    // Fullwidth digits and a zero-width space: the detector reads normalised text and reports
    // offsets of what the user sent.
    let text = "Grüße — call ０４９４ 92 82 32 or mail a\u{200b}b@acme.io";
    let d = PII.detect(&Input::text(text)).unwrap();
    assert_eq!(d.spans.len(), 2, "{:?}", d.spans);
    let phone = &d.spans[0];
    assert_eq!(phone.text(text), "０４９４ 92 82 32");
    let chars: String = text
        .chars()
        .skip(phone.start)
        .take(phone.end - phone.start)
        .collect();
    assert_eq!(chars, "０４９４ 92 82 32");
    assert_eq!(d.spans[1].text(text), "a\u{200b}b@acme.io");
}

/// A stand-in for the NER head: proposes a PERSON over "Jonas Zadina" and one over letters of
/// an e-mail address, as a tagger sometimes does.
struct FakeNer;

impl Recognizer for FakeNer {
    fn id(&self) -> &str {
        "test.ner"
    }
    fn types(&self) -> Vec<String> {
        vec!["PERSON".into()]
    }
    fn recognize(&self, text: &str) -> Result<Vec<Span>, DetectorError> {
        let mut out = Vec::new();
        for name in ["Jonas Zadina", "JonasZadina"] {
            if let Some(i) = text.find(name) {
                out.push(Span::from_bytes(text, i, i + name.len(), "PERSON", 0.99));
            }
        }
        Ok(out)
    }
}

#[test]
fn a_model_recognizer_joins_and_specific_types_win_overlaps() {
    let d = PiiDetector::new(describe(), rule_recognizers()).with(Box::new(FakeNer));
    let types = match &d.info().kind {
        emmental_detectors::DetectorKind::Spans { types } => types.clone(),
        _ => unreachable!(),
    };
    assert!(types.contains(&"PERSON".to_string()) && types.contains(&"EMAIL_ADDRESS".to_string()));
    let text = "Jonas Zadina <JonasZadina@armyspy.com>, card 4526 0181 5908 3012";
    let det = d.detect(&Input::text(text)).unwrap();
    let kinds: Vec<(&str, &str)> = det
        .spans
        .iter()
        .map(|s| (s.kind.as_str(), s.text(text)))
        .collect();
    assert_eq!(
        kinds,
        [
            ("PERSON", "Jonas Zadina"),
            ("EMAIL_ADDRESS", "JonasZadina@armyspy.com"),
            ("CREDIT_CARD", "4526 0181 5908 3012"),
        ]
    );
    // The e-mail address wins over the domain inside it; a card over a phone on its digits.
    assert!(
        det.spans
            .iter()
            .all(|s| s.kind != "DOMAIN_NAME" && s.kind != "PHONE_NUMBER")
    );
}

#[test]
fn clean_text_is_clean_and_batches_agree() {
    let texts = [
        "The quick brown fox jumps over the lazy dog.",
        "Call +44 20 7946 0958.",
        "",
        "ééé 😀 \u{202e}",
    ];
    let inputs: Vec<Input<'_>> = texts.iter().map(|t| Input::text(t)).collect();
    let batch = PII.detect_batch(&inputs).unwrap();
    for (t, b) in texts.iter().zip(&batch) {
        assert_eq!(&PII.detect(&Input::text(t)).unwrap(), b);
    }
    assert_eq!(batch[0].label, "clean");
    assert_eq!(batch[1].label, "pii");
}

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

#[test]
fn project_cases_file_matches_its_markup_and_scores_high() {
    // The JSONL is generated from the marked-up .txt; both must stay in step.
    let marked = std::fs::read_to_string(testdata("pii_structured.txt")).unwrap();
    let docs = data::load_spans(&testdata("pii_structured.jsonl")).unwrap();
    let lines = marked
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .count();
    assert_eq!(docs.len(), lines);
    let gold: usize = docs.iter().map(|d| d.spans.len()).sum();
    assert!(gold >= 150, "{gold} entities");
    let predicted: Vec<Vec<Span>> = docs
        .iter()
        .map(|d| PII.detect(&Input::text(&d.text)).unwrap().spans)
        .collect();
    let r = SpanReport::compute(&docs, &predicted, None);
    // A regression floor well under today's figures (see the calibration record).
    assert!(r.overall.f1.value >= 0.9, "F1 {}", r.overall.f1.value);
    assert!(
        r.overall.precision.value >= 0.9,
        "precision {}",
        r.overall.precision.value
    );
}

/// The public data sets, if this machine has them.
fn data_dir() -> Option<PathBuf> {
    let d = std::env::var_os("EMMENTAL_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    d.is_dir().then_some(d)
}

#[test]
fn shipped_calibration_is_reproduced_on_presidio_heldout() {
    let Some(dir) = data_dir() else {
        eprintln!("skipped: no public data directory (set EMMENTAL_DATA_DIR)");
        return;
    };
    let mut docs = data::load_spans(&dir.join("presidio_synth_pii/synth_dataset_v2.json")).unwrap();
    docs.retain(|d| data::is_heldout(&d.text));
    let predicted: Vec<Vec<Span>> = docs
        .iter()
        .map(|d| PII.detect(&Input::text(&d.text)).unwrap().spans)
        .collect();
    let info = registry::info("pii.rules").unwrap();
    let types = match &info.kind {
        emmental_detectors::DetectorKind::Spans { types } => types.clone(),
        _ => unreachable!(),
    };
    let r = SpanReport::compute(&docs, &predicted, Some(&types));
    let measured = r.supported.unwrap();
    let shipped = info
        .calibration
        .expect("pii.rules ships calibration figures");
    assert_eq!(shipped.n, measured.support);
    for (name, s, m) in [
        ("precision", shipped.precision.unwrap(), &measured.precision),
        ("recall", shipped.recall.unwrap(), &measured.recall),
        ("f1", shipped.f1.unwrap(), &measured.f1),
    ] {
        assert!(
            (s.value - m.value).abs() < 1e-9,
            "{name}: shipped {} measured {}",
            s.value,
            m.value
        );
    }
}

/// Random text from pieces that stress the recognizers: look-alike letters whose case folding
/// leaves ASCII (the Kelvin sign, the long s), other scripts' digits, combining marks, and
/// fragments of every entity shape.
fn odd_texts(n: usize) -> Vec<String> {
    const PIECES: &[&str] = &[
        "\u{212a}",
        "\u{17f}",
        "٣",
        "৭",
        "\u{301}",
        "é",
        "😀",
        " ",
        "\n",
        ".",
        "-",
        "/",
        ":",
        "@",
        "+",
        "(",
        ")",
        ")(",
        "GB82",
        "WEST",
        "1234",
        "5698",
        "7654",
        "32",
        "4526",
        "0181",
        "5908",
        "3012",
        "+44",
        "20",
        "7946",
        "0958",
        "jo@acme.io",
        "www.",
        "https://",
        "::",
        "fe80",
        "192.168.",
        "SSN",
        "536-22-8149",
        "born",
        "May",
        "2024-02-29",
        "12/",
        "bc1q",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "\u{212a}B12345\u{17f}",
        "ZIP:",
        "aged",
        "y/o",
        "IBAN",
        "call",
        "x",
        "ext.",
        "passport",
        "driver's license",
        "QQ",
        "X1234567L",
    ];
    let mut rng = emmental_core::rng::SplitMix64::new(42);
    (0..n)
        .map(|_| {
            let len = 1 + rng.below(40);
            (0..len).map(|_| PIECES[rng.below(PIECES.len())]).collect()
        })
        .collect()
}

#[test]
fn never_panics_and_spans_fit_the_text() {
    // Without the normaliser in front too: a caller may build the detector directly.
    let raw = PiiDetector::new(describe(), rule_recognizers());
    for text in odd_texts(3000) {
        for d in [
            PII.detect(&Input::text(&text)).unwrap(),
            raw.detect(&Input::text(&text)).unwrap(),
        ] {
            for s in &d.spans {
                assert!(
                    s.byte_end <= text.len()
                        && text.is_char_boundary(s.byte_start)
                        && text.is_char_boundary(s.byte_end)
                );
                assert_eq!(text[..s.byte_start].chars().count(), s.start, "{text:?}");
                assert!(s.score >= 0.5 && s.score <= 1.0);
            }
        }
    }
}
