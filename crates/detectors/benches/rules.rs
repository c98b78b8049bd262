//! Per-call time of the rule-based detectors on one core: Unicode normalisation, `pii.rules`,
//! `secrets`, and the three together (as the guard runs them), on a realistic 300-character
//! text with entities and one without. Two baselines measured in the same run give the ratio:
//! a plain `str::contains` scan for 20 keywords, and one pass of one e-mail regex.
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo bench -p emmental-detectors --bench rules
//! ```
//!
//! `BENCH_PER_RECOGNIZER=1` also times each recognizer of `pii.rules` alone. The last table
//! times `pii.rules` on more texts, hot, with the CPU's caches cold, and just after the thread
//! slept 10 ms (as the proxy's does while the upstream answers).
//!
//! Each figure is the median over 15 batches of the per-call mean within a batch.

use std::hint::black_box;
use std::time::{Duration, Instant};

use emmental_detectors::pii::{self, PiiDetector};
use emmental_detectors::{Detector, Input, registry, unicode};

const WITH_ENTITIES: &str = "Hi Dana, thanks for the call. As discussed, the refund goes to card 4526 0181 5908 3012 \
     and the invoice to dana.whitfield@northwind-legal.com. If anything is unclear, ring me on \
     +44 20 7946 0958 before Friday. The old portal at https://portal.northwind.io is gone; \
     use IBAN DE62 3704 0044 0532 0130 01. Best, Jürgen";

const WITHOUT_ENTITIES: &str = "Thanks for the quick reply. I have read the draft twice and the structure works \
     well, but the second section repeats the argument of the first and the conclusion comes too \
     early. Could you move the table on costs to the appendix and shorten the introduction to one \
     paragraph? Otherwise it reads well.";

/// The guard proxy benchmark's prompt (`crates/server/benches/guard_proxy.rs`): prose with a
/// ticket number (8 to 10 digits there, depending on the load; 10 here), which looks enough
/// like a phone or account number that several rules match it and read its context.
const TICKET: &str = "Hi, I'm writing about my order from last week. The parcel never arrived and the tracking \
page has not changed since Tuesday. Could you check what happened and tell me whether I should wait or ask \
for a refund? I would also like to know how long refunds usually take to reach a bank account. Thanks a lot. (ticket 1047291234)";

/// The same prompt with its ticket number first: the number rules' matches can then only lie
/// near the start, and what bounds them is what a match can hold after its last digit.
const TICKET_FIRST: &str = "(ticket 1047291234) Hi, I'm writing about my order from last week. The parcel never \
arrived and the tracking page has not changed since Tuesday. Could you check what happened and tell me whether I \
should wait or ask for a refund? I would also like to know how long refunds usually take to reach a bank account. Thanks a lot.";

/// The guard proxy benchmark's text as it sends it: a case number first and the ticket number
/// last (8 digits each at the load that the one-at-a-time figures come from).
const CASE_AND_TICKET: &str = "Case 23757013: Hi, I'm writing about my order from last week. The parcel never arrived \
and the tracking page has not changed since Tuesday. Could you check what happened and tell me whether I should \
wait or ask for a refund? I would also like to know how long refunds usually take to reach a bank account. \
Thanks a lot. (ticket 23757013)";

/// Median per-call time of `f` over 15 batches.
fn time(mut f: impl FnMut()) -> Duration {
    // Warm up and size a batch to about 20 ms.
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_millis(50) {
        f();
        n += 1;
    }
    let per = start.elapsed() / n;
    let batch =
        (Duration::from_millis(20).as_nanos() / per.as_nanos().max(1)).clamp(1, 1_000_000) as u32;
    let mut samples: Vec<Duration> = (0..15)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..batch {
                f();
            }
            t.elapsed() / batch
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let pii = registry::build_rule_based("pii.rules").expect("pii.rules");
    let secrets = registry::build_rule_based("secrets").expect("secrets");
    let hidden = registry::build_rule_based("unicode").expect("unicode");
    let keywords = [
        "password",
        "secret",
        "token",
        "ssn",
        "iban",
        "card",
        "phone",
        "email",
        "born",
        "passport",
        "license",
        "api_key",
        "private",
        "account",
        "address",
        "visa",
        "salary",
        "diagnosis",
        "credit",
        "bank",
    ];
    let email =
        regex::Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}").expect("regex");

    println!("rules benchmark, one thread, median per call");
    for (name, text) in [
        ("300 chars, 6 entities", WITH_ENTITIES),
        ("300 chars, no entities", WITHOUT_ENTITIES),
        ("the guard bench's prompt", TICKET),
        ("the same, its number first", TICKET_FIRST),
        ("a number at each end", CASE_AND_TICKET),
    ] {
        let input = Input::text(text);
        let contains = time(|| {
            let lower = black_box(text).to_lowercase();
            black_box(keywords.iter().filter(|k| lower.contains(*k)).count());
        });
        let one_regex = time(|| {
            black_box(email.find_iter(black_box(text)).count());
        });
        let norm = time(|| {
            black_box(unicode::normalize(black_box(text)));
        });
        let p = time(|| {
            black_box(pii.detect(black_box(&input)).expect("pii"));
        });
        let s = time(|| {
            black_box(secrets.detect(black_box(&input)).expect("secrets"));
        });
        let all = time(|| {
            black_box(hidden.detect(black_box(&input)).expect("unicode"));
            black_box(pii.detect(black_box(&input)).expect("pii"));
            black_box(secrets.detect(black_box(&input)).expect("secrets"));
        });
        let found = pii.detect(&input).expect("pii").spans.len()
            + secrets.detect(&input).expect("secrets").spans.len();
        println!(
            "\n{name} ({} chars, {found} spans found)",
            text.chars().count()
        );
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "  baseline: 20-keyword contains scan   {:8.2} µs",
            us(contains)
        );
        println!(
            "  baseline: one e-mail regex pass       {:8.2} µs",
            us(one_regex)
        );
        println!(
            "  unicode::normalize                    {:8.2} µs",
            us(norm)
        );
        println!("  pii.rules                             {:8.2} µs", us(p));
        println!("  secrets                               {:8.2} µs", us(s));
        println!(
            "  unicode + pii.rules + secrets         {:8.2} µs   ({:.1}x the contains scan, {:.1}x one regex; target 200 µs)",
            us(all),
            us(all) / us(contains),
            us(all) / us(one_regex)
        );
        if std::env::var_os("BENCH_PER_RECOGNIZER").is_some() {
            for r in pii::rule_recognizers() {
                let t = time(|| {
                    black_box(r.recognize(black_box(text)).expect("recognize"));
                });
                println!(
                    "  recognizer {:<24} {:8.2} µs",
                    r.id(),
                    t.as_secs_f64() * 1e6
                );
            }
        }
    }

    // pii.rules per text, hot and with the CPU's caches gone cold (as on an idle proxy
    // between two requests): a regex touched is then memory fetched, whatever its work.
    let rules = PiiDetector::new(pii::describe(), pii::rule_recognizers());
    let cases: Vec<String> = emmental_detectors::data::load_spans(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/pii_structured.jsonl"),
    )
    .expect("the project's PII cases")
    .into_iter()
    .map(|d| d.text)
    .collect();
    let cases_name = format!("project PII cases, {} texts", cases.len());
    println!(
        "\npii.rules, median µs per text      hot   caches cold (first text)   after 10 ms asleep (first text)"
    );
    let mut junk = vec![0u8; 64 << 20];
    for (name, texts) in [
        ("300 chars, 6 entities", vec![WITH_ENTITIES.to_string()]),
        ("300 chars, no entities", vec![WITHOUT_ENTITIES.to_string()]),
        ("the guard bench's prompt", vec![TICKET.to_string()]),
        ("the same, its number first", vec![TICKET_FIRST.to_string()]),
        ("a number at each end", vec![CASE_AND_TICKET.to_string()]),
        ("9 KB, a number at each end", vec![long_case()]),
        (cases_name.as_str(), cases),
        ("digit soup, 200 texts", digit_soup(200)),
    ] {
        let hot = time(|| {
            for t in &texts {
                black_box(rules.detect(black_box(&Input::text(t))).expect("pii"));
            }
        })
        .as_secs_f64()
            * 1e6
            / texts.len() as f64;
        // Median µs of the first text over 31 rounds, each after `before(round)`.
        let first_after = |before: &mut dyn FnMut(usize)| {
            let mut v: Vec<f64> = (0..31)
                .map(|round| {
                    before(round);
                    let t = Instant::now();
                    black_box(
                        rules
                            .detect(black_box(&Input::text(&texts[0])))
                            .expect("pii"),
                    );
                    t.elapsed().as_secs_f64() * 1e6
                })
                .collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        // Evict the caches: write 64 MiB.
        let cold = first_after(&mut |round| {
            for (i, b) in junk.iter_mut().enumerate().step_by(64) {
                *b = b.wrapping_add((i + round) as u8);
            }
        });
        // The proxy one request at a time: the thread sleeps while the upstream works, and
        // the core may idle (or, in a virtual machine, be lent to another guest).
        let asleep = first_after(&mut |_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
        });
        println!("  {name:<30} {hot:8.2}   {cold:8.2}   {asleep:8.2}");
    }
}

/// A long prompt (a pasted document of some 9 KB) with a case number first and a ticket number
/// last, its prose free of digits.
fn long_case() -> String {
    format!(
        "Case 23757013: {} (ticket 23757013)",
        WITHOUT_ENTITIES.repeat(30)
    )
}

/// Texts of digits, separators and bits of words in every arrangement (the shapes the
/// number patterns look for, adversarially mixed), 300 bytes each, from a fixed seed.
fn digit_soup(n: usize) -> Vec<String> {
    const PIECES: &[&str] = &[
        "\u{212a}", "é", "😀", " ", "\n", ".", "-", "/", ":", "@", "+", "(", ")", "GB82", "WEST",
        "1234", "5698", "7654", "32", "4526", "0181", "5908", "3012", "+44", "20", "x", "ab",
        "the ", "call ", "192.168.", "DE", "born in ", "aged ",
    ];
    let mut seed = 12345u64;
    (0..n)
        .map(|_| {
            let mut t = String::new();
            while t.len() < 300 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                t.push_str(PIECES[(seed >> 33) as usize % PIECES.len()]);
            }
            t
        })
        .collect()
}
