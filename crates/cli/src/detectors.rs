//! `emmental detectors list|run|validate|train`: the detector set as a product feature.

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use emmental_core::Estimate;
use emmental_detectors::metrics::{ClassificationReport, SourceFigures, SpanReport, by_source};
use emmental_detectors::train::prescreen::{PrescreenOptions, prescreen};
use emmental_detectors::train::{TrainOptions, train};
use emmental_detectors::{Detector, DetectorKind, Input, Resources, data, registry};
use emmental_models::catalog::DEFAULT_ENCODER;
use emmental_models::fetch::Fetcher;
use emmental_models::{LoadOptions, load_local_encoder};
use serde::Deserialize;

use crate::commands::Format;

#[derive(Debug, Subcommand)]
pub enum DetectorsCommand {
    /// List the detectors with their report sections and shipped calibration figures.
    List {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Run a detector on each line of a JSONL file (`{"text": …, "prompt": …}`; `-` reads stdin)
    /// and print one JSON result per line, in order.
    Run {
        name: String,
        #[arg(long)]
        data: PathBuf,
        #[command(flatten)]
        common: DetectorArgs,
    },
    /// Measure a detector against labelled data: accuracy, precision, recall, F1 with 95%
    /// intervals and a confusion matrix. Reads generic JSONL, XSTest completion CSVs and
    /// Presidio's synth_dataset_v2.json; for a trainable classifier, a data directory (the
    /// public data sets) means the rows it is trained and validated on.
    Validate {
        name: String,
        /// Labelled data; repeat to measure several files as one set.
        #[arg(long, required = true)]
        data: Vec<PathBuf>,
        /// Keep only the standard held-out split (30% by prompt, else by text): the rows no
        /// shipped detector trained on.
        #[arg(long)]
        heldout: bool,
        /// For a trainable classifier read from a data directory: measure the derived rows its
        /// training measures apart instead of the data sets' own rows (for `harm`, every
        /// answer again after a benign start of 1,200+ characters, and benign text alone
        /// answering each harmful answer's prompt).
        #[arg(long)]
        derived: bool,
        /// For a classifier: count a text as its positive class when its score is at least
        /// this, as a guard layer with this `threshold` would (default: the detector's own
        /// label, which is a score of at least 0.5).
        #[arg(long)]
        threshold: Option<f64>,
        /// For a classifier: also write every row measured to this JSONL file (source, gold
        /// label, score, verdict, text and prompt), to read its errors. The file holds the
        /// data sets' texts: keep it out of anything you publish if their licences say so.
        #[arg(long, value_name = "FILE")]
        rows: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[command(flatten)]
        common: DetectorArgs,
    },
    /// Train a model-based detector from the public data sets (seeded, reproducible) and write
    /// its weights and a record of how they were made.
    Train {
        name: String,
        /// The public data sets (the layout of ../shared/data).
        #[arg(long, env = "EMMENTAL_DATA_DIR")]
        data_dir: PathBuf,
        /// Where to write `<name>.json` and `<name>.record.json`.
        #[arg(long, default_value = "detector-weights")]
        out: PathBuf,
        #[arg(long, default_value_t = 0x5eed)]
        seed: u64,
        #[command(flatten)]
        common: DetectorArgs,
    },
    /// Fit a prescreen in front of a classifier's head (a cascade): a cheap first look at an
    /// early encoder layer that answers clear negatives without the full pass. Writes
    /// `<name>.json` (the head with its prescreen) and `<name>.prescreen.json` (what it changes,
    /// measured on the held-out split).
    Prescreen {
        name: String,
        /// The public data sets (the layout of ../shared/data).
        #[arg(long, env = "EMMENTAL_DATA_DIR")]
        data_dir: PathBuf,
        /// Where to write the files.
        #[arg(long, default_value = "detector-weights")]
        out: PathBuf,
        /// The encoder layer it reads (0: the token embeddings, before any transformer layer).
        #[arg(long, default_value_t = 0)]
        layer: usize,
        /// The share of the training rows the head flags that may stop at the prescreen (set
        /// out of fold); held-out figures measure what it does.
        #[arg(long, default_value_t = 0.002)]
        max_flagged_exits: f64,
        #[arg(long, default_value_t = 0x5eed)]
        seed: u64,
        #[command(flatten)]
        common: DetectorArgs,
    },
}

/// Options shared by the commands that build a detector.
#[derive(Debug, Args)]
pub struct DetectorArgs {
    /// Use trained weights from this directory instead of the shipped ones.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// A directory holding the encoder's files (checked against their SHA-256).
    #[arg(long, env = "EMMENTAL_MODEL_PATH")]
    model_path: Option<PathBuf>,
}

impl DetectorArgs {
    async fn resources(&self, needs_encoder: bool) -> Result<Resources> {
        let mut res = Resources {
            encoder: None,
            weights_dir: self.weights.clone(),
        };
        if needs_encoder {
            let mut fetcher = Fetcher::from_env();
            fetcher.explicit = self.model_path.clone();
            fetcher.progress = std::io::stderr().is_terminal();
            let opts = LoadOptions {
                fetcher,
                ..LoadOptions::default()
            };
            let enc = load_local_encoder(DEFAULT_ENCODER, &opts)
                .await
                .with_context(|| format!("cannot load the encoder local/{DEFAULT_ENCODER}"))?;
            res.encoder = Some(enc);
        }
        Ok(res)
    }

    async fn build(&self, name: &str) -> Result<Arc<dyn Detector>> {
        let entry = registry::entry(name)?;
        let res = self.resources(entry.needs_encoder).await?;
        Ok(registry::build(name, &res)?)
    }
}

pub async fn detectors(cmd: DetectorsCommand) -> Result<()> {
    match cmd {
        DetectorsCommand::List { format } => list(format),
        DetectorsCommand::Run { name, data, common } => {
            let d = common.build(&name).await?;
            tokio::task::spawn_blocking(move || run(d.as_ref(), &data)).await?
        }
        DetectorsCommand::Validate {
            name,
            data,
            heldout,
            derived,
            threshold,
            rows,
            format,
            common,
        } => {
            if derived && let Some(file) = data.iter().find(|p| !p.is_dir()) {
                bail!(
                    "--derived reads a trainable detector's data directory, and {} is a file",
                    file.display()
                );
            }
            if let Some(t) = threshold
                && !(t > 0.0 && t <= 1.0)
            {
                bail!("--threshold {t} is not a score: give a number above 0 and at most 1");
            }
            let d = common.build(&name).await?;
            tokio::task::spawn_blocking(move || {
                validate(
                    d.as_ref(),
                    &data,
                    heldout,
                    derived,
                    threshold,
                    rows.as_deref(),
                    format,
                )
            })
            .await?
        }
        DetectorsCommand::Train {
            name,
            data_dir,
            out,
            seed,
            common,
        } => {
            require_data_dir(&data_dir)?;
            let needs = registry::entry(&name)?.needs_encoder;
            let res = common.resources(needs).await?;
            let opts = TrainOptions {
                data_dir,
                out_dir: out,
                seed,
                embedding_cache: Some(emmental_models::fetch::default_home().join("embeddings")),
            };
            let report = tokio::task::spawn_blocking(move || train(&name, &opts, &res)).await??;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        DetectorsCommand::Prescreen {
            name,
            data_dir,
            out,
            layer,
            max_flagged_exits,
            seed,
            common,
        } => {
            require_data_dir(&data_dir)?;
            if !(0.0..1.0).contains(&max_flagged_exits) {
                bail!("--max-flagged-exits is a share in [0, 1), got {max_flagged_exits}");
            }
            let res = common.resources(true).await?;
            let opts = PrescreenOptions {
                data_dir,
                out_dir: out,
                layer,
                max_flagged_exits,
                seed,
            };
            let record =
                tokio::task::spawn_blocking(move || prescreen(&name, &opts, &res)).await??;
            println!("{}", serde_json::to_string_pretty(&record)?);
            Ok(())
        }
    }
}

/// `--data-dir` of the commands that read the public data sets.
fn require_data_dir(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        bail!(
            "data directory {} does not exist; point --data-dir at the public data sets",
            dir.display()
        );
    }
    Ok(())
}

fn pct(e: &Estimate) -> String {
    if e.n == 0 {
        return "—".into();
    }
    format!(
        "{:5.1}% ({:.1}–{:.1}%)",
        100.0 * e.value,
        100.0 * e.ci_low,
        100.0 * e.ci_high
    )
}

fn list(format: Format) -> Result<()> {
    let infos = registry::DETECTORS
        .iter()
        .map(|e| registry::info(e.id))
        .collect::<Result<Vec<_>, _>>()?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&infos)?),
        Format::Text => {
            for i in infos {
                let kind = match &i.kind {
                    DetectorKind::Classifier { labels, .. } => labels.join("/"),
                    DetectorKind::Spans { types } => format!("spans: {}", types.join(", ")),
                };
                println!(
                    "{:<10} §{:<12} {}",
                    i.id,
                    i.sections.join(" §"),
                    i.description
                );
                println!("{:<10} {kind}", "");
                match &i.calibration {
                    Some(c) => {
                        let figs = [
                            ("accuracy", &c.accuracy),
                            ("precision", &c.precision),
                            ("recall", &c.recall),
                            ("F1", &c.f1),
                        ]
                        .iter()
                        .filter_map(|(n, e)| e.as_ref().map(|e| format!("{n} {}", pct(e))))
                        .collect::<Vec<_>>()
                        .join(", ");
                        println!("{:<10} measured on {} (n={}): {figs}", "", c.data, c.n);
                    }
                    None => println!("{:<10} no calibration figures shipped", ""),
                }
            }
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct RunLine {
    text: String,
    #[serde(default)]
    prompt: Option<String>,
}

/// Inputs are judged in batches so encoder-based detectors batch their forward passes.
const RUN_BATCH: usize = 32;

fn run(d: &dyn Detector, path: &PathBuf) -> Result<()> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?,
        ))
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut batch: Vec<RunLine> = Vec::new();
    let flush = |batch: &mut Vec<RunLine>, out: &mut BufWriter<_>| -> Result<()> {
        let inputs: Vec<Input<'_>> = batch
            .iter()
            .map(|l| Input {
                text: &l.text,
                prompt: l.prompt.as_deref(),
            })
            .collect();
        for det in d.detect_batch(&inputs)? {
            let spans: Vec<_> = det
                .spans
                .iter()
                .map(|s| serde_json::json!({"start": s.start, "end": s.end, "type": s.kind, "score": s.score}))
                .collect();
            let line = serde_json::json!({"label": det.label, "score": det.score, "spans": spans});
            writeln!(out, "{line}")?;
        }
        batch.clear();
        out.flush()?;
        Ok(())
    };
    for (i, line) in reader.lines().enumerate() {
        let line =
            line.with_context(|| format!("{}:{}: cannot read line", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: RunLine = serde_json::from_str(&line).with_context(|| {
            format!(
                "{}:{}: expected a JSON object with a \"text\" string (and optionally \"prompt\")",
                path.display(),
                i + 1
            )
        })?;
        batch.push(parsed);
        if batch.len() == RUN_BATCH {
            flush(&mut batch, &mut out)?;
        }
    }
    if !batch.is_empty() {
        flush(&mut batch, &mut out)?;
    }
    Ok(())
}

/// Classifier rows from files or, for a trainable detector, from a data directory.
fn labeled_rows(
    id: &str,
    paths: &[PathBuf],
    heldout: bool,
    derived: bool,
) -> Result<Vec<data::LabeledText>> {
    let mut rows = Vec::new();
    for path in paths {
        if path.is_dir() {
            if !emmental_detectors::train::TRAINABLE.contains(&id) {
                bail!(
                    "{} is a directory; only trainable detectors ({}) read a data directory",
                    path.display(),
                    emmental_detectors::train::TRAINABLE.join(", ")
                );
            }
            rows.extend(emmental_detectors::train::labeled_rows(
                id, path, heldout, derived,
            )?);
        } else {
            rows.extend(
                data::load_labeled(path)?.into_iter().filter(|r| {
                    !heldout || data::is_heldout(r.prompt.as_deref().unwrap_or(&r.text))
                }),
            );
        }
    }
    Ok(rows)
}

fn validate(
    d: &dyn Detector,
    paths: &[PathBuf],
    heldout: bool,
    derived: bool,
    threshold: Option<f64>,
    rows_out: Option<&Path>,
    format: Format,
) -> Result<()> {
    let info = d.info().clone();
    let shown = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    match &info.kind {
        DetectorKind::Classifier { positive, labels } => {
            let negative = labels
                .iter()
                .find(|l| *l != positive)
                .cloned()
                .unwrap_or_default();
            let rows = labeled_rows(info.id, paths, heldout, derived)?;
            if rows.is_empty() && derived {
                bail!(
                    "{} has no derived rows measured apart; leave out --derived",
                    info.id
                );
            }
            if rows.is_empty() {
                bail!(
                    "{shown} holds no labelled rows{}",
                    if heldout {
                        " in the held-out split"
                    } else {
                        ""
                    }
                );
            }
            if let Some(bad) = rows.iter().find(|r| !labels.contains(&r.label)) {
                bail!(
                    "{}: label `{}` is not one of {} for detector {}",
                    bad.source,
                    bad.label,
                    labels.join(", "),
                    info.id
                );
            }
            // Written first: a path that cannot be written is an error before the long run.
            let mut rows_file = match rows_out {
                Some(p) => Some(BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot write the rows to {}", p.display()))?,
                )),
                None => None,
            };
            let mut predicted = Vec::with_capacity(rows.len());
            let mut scores = Vec::with_capacity(rows.len());
            for chunk in rows.chunks(RUN_BATCH) {
                let inputs: Vec<Input<'_>> = chunk
                    .iter()
                    .map(|r| Input {
                        text: &r.text,
                        prompt: r.prompt.as_deref(),
                    })
                    .collect();
                let found = d.detect_batch(&inputs)?;
                scores.extend(found.iter().map(|x| x.score));
                predicted.extend(found.into_iter().map(|x| match threshold {
                    None => x.label,
                    // As the guard compares: in f32.
                    Some(t) if x.score >= t as f32 => positive.clone(),
                    Some(_) => negative.clone(),
                }));
            }
            if let (Some(file), Some(path)) = (rows_file.as_mut(), rows_out) {
                let mut write = || -> std::io::Result<()> {
                    for ((r, p), score) in rows.iter().zip(&predicted).zip(&scores) {
                        let line = serde_json::json!({
                            "source": r.source, "label": r.label, "predicted": p,
                            "score": score, "text": r.text, "prompt": r.prompt,
                        });
                        writeln!(file, "{line}")?;
                    }
                    file.flush()
                };
                write().with_context(|| format!("cannot write the rows to {}", path.display()))?;
            }
            let sources = by_source(
                rows.iter()
                    .zip(&predicted)
                    .map(|(r, p)| (source_of(&r.source), &r.label == positive, p == positive)),
            );
            let gold: Vec<String> = rows.into_iter().map(|r| r.label).collect();
            let report = ClassificationReport::compute(&gold, &predicted, Some(positive));
            match format {
                Format::Json => {
                    let mut v = report.to_json(info.id);
                    v["by_source"] = serde_json::to_value(&sources)?;
                    if let Some(t) = threshold {
                        v["threshold"] = serde_json::json!(t);
                    }
                    println!("{}", serde_json::to_string_pretty(&v)?)
                }
                Format::Text => {
                    if let Some(t) = threshold {
                        println!("texts scoring at least {t} count as {positive}");
                    }
                    print_classification(info.id, &report);
                    if sources.len() > 1 {
                        print_sources(positive, &sources);
                    }
                }
            }
        }
        DetectorKind::Spans { types } => {
            if threshold.is_some() {
                bail!(
                    "--threshold applies to classifiers; {} finds spans (its validation counts every span it reports)",
                    info.id
                );
            }
            if rows_out.is_some() {
                bail!("--rows applies to classifiers; {} finds spans", info.id);
            }
            if derived {
                bail!(
                    "--derived applies to trainable classifiers; {} finds spans",
                    info.id
                );
            }
            let mut docs = Vec::new();
            for path in paths {
                docs.extend(
                    data::load_spans(path)?
                        .into_iter()
                        .filter(|d| !heldout || data::is_heldout(&d.text)),
                );
            }
            if docs.is_empty() {
                bail!(
                    "{shown} holds no documents{}",
                    if heldout {
                        " in the held-out split"
                    } else {
                        ""
                    }
                );
            }
            let mut predicted = Vec::with_capacity(docs.len());
            for chunk in docs.chunks(RUN_BATCH) {
                let inputs: Vec<Input<'_>> = chunk.iter().map(|d| Input::text(&d.text)).collect();
                predicted.extend(d.detect_batch(&inputs)?.into_iter().map(|x| x.spans));
            }
            let report = SpanReport::compute(&docs, &predicted, Some(types));
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&report.to_json(info.id))?
                ),
                Format::Text => print_spans(info.id, &report),
            }
        }
    }
    Ok(())
}

/// The source a labelled row is counted under: its data set (from a data directory) or its
/// file (`path:line` without the line).
fn source_of(source: &str) -> &str {
    match source.rsplit_once(':') {
        Some((file, line)) if !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) => file,
        _ => source,
    }
}

/// Per source, the share flagged as `positive`: among its positive rows the recall, among its
/// negative rows the false-positive rate.
fn print_sources(positive: &str, sources: &BTreeMap<String, SourceFigures>) {
    println!();
    let width = sources
        .keys()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    println!("{:<width$} {:>6}  flagged as {positive}", "source", "n");
    for (name, f) in sources {
        let shown = match (&f.recall, &f.false_positive_rate) {
            (Some(r), None) => format!("{:<22} recall", pct(r)),
            (None, Some(fp)) => format!("{:<22} false positives", pct(fp)),
            (Some(r), Some(fp)) => format!(
                "{:<22} recall (n={}); {} false positives (n={})",
                pct(r),
                r.n,
                pct(fp),
                fp.n
            ),
            (None, None) => continue,
        };
        println!("{name:<width$} {:>6}  {shown}", f.n);
    }
}

fn print_classification(id: &str, r: &ClassificationReport) {
    println!("detector {id}: {} texts", r.n);
    println!("accuracy  {}", pct(&r.accuracy));
    println!();
    println!(
        "{:<14} {:>24} {:>24} {:>24} {:>8}",
        "class", "precision", "recall", "F1", "support"
    );
    for (c, p) in &r.classes {
        println!(
            "{:<14} {:>24} {:>24} {:>24} {:>8}",
            c,
            pct(&p.precision),
            pct(&p.recall),
            pct(&p.f1),
            p.support
        );
    }
    println!();
    let labels: Vec<&String> = r.classes.keys().collect();
    print!("{:<14}", "gold \\ pred");
    for l in &labels {
        print!(" {:>12}", l);
    }
    println!();
    for g in &labels {
        print!("{:<14}", g);
        for p in &labels {
            let n = r
                .confusion
                .get(*g)
                .and_then(|m| m.get(*p))
                .copied()
                .unwrap_or(0);
            print!(" {:>12}", n);
        }
        println!();
    }
}

fn print_spans(id: &str, r: &SpanReport) {
    println!(
        "detector {id}: {} documents, {} gold spans",
        r.documents, r.overall.support
    );
    println!(
        "{:<20} {:>24} {:>24} {:>24} {:>8} {:>8}",
        "type", "precision", "recall", "F1", "gold", "found"
    );
    let row = |name: &str, p: &emmental_detectors::metrics::Prf| {
        println!(
            "{:<20} {:>24} {:>24} {:>24} {:>8} {:>8}",
            name,
            pct(&p.precision),
            pct(&p.recall),
            pct(&p.f1),
            p.support,
            p.predicted
        );
    };
    for (t, p) in &r.types {
        row(t, p);
    }
    row("overall", &r.overall);
    if let Some(s) = &r.supported {
        row("supported types", s);
    }
    let e = &r.entity_free;
    if e.documents > 0 {
        println!(
            "documents without gold spans: {}; flagged anyway: {} ({}), {} spans",
            e.documents,
            e.flagged,
            pct(&e.rate),
            e.spans
        );
    }
}
