//! `emmental audit` (verify and export the guard's audit chain) and `emmental review` (the
//! human-review queue): both read and write the store the guard proxy writes.
//!
//! These commands never create a store: pointing one at a path with no store is an error, not
//! an empty chain that "verifies".

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use emmental_store::{
    AuditHead, AuditVerification, ReviewDecision, ReviewItem, ReviewStatus, Store,
};
use serde_json::json;

use crate::commands::Format;
use crate::eval::StoreArgs;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Re-check the audit chain: every record's hash, every link, every sequence number. Exits
    /// non-zero when it finds a problem. A chain alone cannot show that its newest records were
    /// deleted or that it was rewritten from some record on: record the head it prints somewhere
    /// else and check against it later with --expect-head.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// A head recorded earlier, as SEQ:HASH: the record SEQ must still exist and have HASH.
        #[arg(long, value_name = "SEQ:HASH")]
        expect_head: Option<AuditHead>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Write the audit chain as JSONL: one record per line in canonical JSON (RFC 8785) with its
    /// seq, ts, prev_hash and hash, so that anyone can re-check it with SHA-256.
    Export {
        #[command(flatten)]
        store: StoreArgs,
        /// Output file, or `-` for standard output.
        #[arg(long, default_value = "-")]
        out: PathBuf,
        /// Export only the records after this sequence number (for incremental exports).
        #[arg(long, default_value_t = 0, value_name = "SEQ")]
        after: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// List reviews, oldest first.
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, value_enum, default_value_t = StatusFilter::Pending)]
        status: StatusFilter,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show one review: the exchange, why it was escalated, and the request's audit trail.
    Show {
        /// The review id, or a unique prefix of it.
        id: String,
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Approve a pending review (audited; a decision is final).
    Approve(DecideArgs),
    /// Reject a pending review (audited; a decision is final).
    Reject(DecideArgs),
}

#[derive(Debug, Args)]
pub struct DecideArgs {
    /// The review id, or a unique prefix of it.
    pub id: String,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Why, for the audit record.
    #[arg(long)]
    pub note: Option<String>,
    /// Who decides (default: $EMMENTAL_REVIEWER, else $USER).
    #[arg(long, env = "EMMENTAL_REVIEWER")]
    pub by: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Which reviews `review list` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFilter {
    Pending,
    Approved,
    Rejected,
    Expired,
    All,
}

impl StatusFilter {
    fn status(self) -> Option<ReviewStatus> {
        match self {
            StatusFilter::Pending => Some(ReviewStatus::Pending),
            StatusFilter::Approved => Some(ReviewStatus::Approved),
            StatusFilter::Rejected => Some(ReviewStatus::Rejected),
            StatusFilter::Expired => Some(ReviewStatus::Expired),
            StatusFilter::All => None,
        }
    }
}

/// Opens a store that must already exist.
async fn open_existing(path: &Path) -> Result<Store> {
    if !path.exists() {
        bail!(
            "no store at {}: give the guard's store file with --store PATH or EMMENTAL_STORE \
             (the default is emmental.db in the working directory)",
            path.display()
        );
    }
    Ok(Store::open(path).await?)
}

pub async fn audit(cmd: AuditCommand) -> Result<()> {
    match cmd {
        AuditCommand::Verify {
            store,
            expect_head,
            format,
        } => {
            let path = store.store;
            let store = open_existing(&path).await?;
            let v = match &expect_head {
                Some(head) => store.verify_audit_expecting(head).await?,
                None => store.verify_audit().await?,
            };
            match format {
                Format::Json => {
                    let mut out = serde_json::to_value(&v)?;
                    out["ok"] = json!(v.is_ok());
                    out["store"] = json!(path);
                    println!("{}", serde_json::to_string_pretty(&out)?);
                }
                Format::Text => print_verification(&path, &v),
            }
            if !v.is_ok() {
                bail!(
                    "audit chain of {} failed verification: {} problem{} in {} records",
                    path.display(),
                    v.problems_total,
                    if v.problems_total == 1 { "" } else { "s" },
                    v.records
                );
            }
            Ok(())
        }
        AuditCommand::Export { store, out, after } => {
            let path = store.store;
            let store = open_existing(&path).await?;
            let to_stdout = out.as_os_str() == "-";
            let sink: Box<dyn Write> = if to_stdout {
                Box::new(std::io::stdout().lock())
            } else {
                Box::new(
                    std::fs::File::create(&out)
                        .with_context(|| format!("cannot create {}", out.display()))?,
                )
            };
            let mut sink = BufWriter::new(sink);
            let mut last = after;
            let mut count = 0_u64;
            loop {
                let records = store.audit_records(last, 2000).await?;
                let Some(end) = records.last() else { break };
                last = end.seq;
                for record in &records {
                    let written = writeln!(sink, "{}", record.to_json_line());
                    if let Err(e) = written {
                        // A closed pipe (`| head`) is the reader's choice, not an error.
                        if e.kind() == std::io::ErrorKind::BrokenPipe {
                            return Ok(());
                        }
                        return Err(e).with_context(|| format!("cannot write {}", out.display()));
                    }
                    count += 1;
                }
            }
            match sink.flush() {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                flushed => flushed.with_context(|| format!("cannot write {}", out.display()))?,
            }
            if !to_stdout {
                eprintln!(
                    "exported {count} audit record{} to {}",
                    if count == 1 { "" } else { "s" },
                    out.display()
                );
            }
            Ok(())
        }
    }
}

fn print_verification(path: &Path, v: &AuditVerification) {
    let records = format!(
        "{} record{}",
        v.records,
        if v.records == 1 { "" } else { "s" }
    );
    if v.is_ok() {
        println!("audit chain of {}: {records}, OK", path.display());
    } else {
        println!(
            "audit chain of {}: {records}, {} problem{}",
            path.display(),
            v.problems_total,
            if v.problems_total == 1 { "" } else { "s" }
        );
        for p in &v.problems {
            println!("  record {}: {}: {}", p.seq, p.kind, p.message);
        }
        let unlisted = v.problems_total.saturating_sub(v.problems.len() as u64);
        if unlisted > 0 {
            println!(
                "  … and {unlisted} more (all of them: --format json lists the first ones too)"
            );
        }
    }
    if let Some(expected) = &v.expected_head {
        println!("expected head {expected}");
    }
    match &v.head {
        Some(head) => println!(
            "head {head}\n  (record it outside the store; check against it later with \
             --expect-head {head})"
        ),
        None => println!("the chain is empty"),
    }
}

pub async fn review(cmd: ReviewCommand) -> Result<()> {
    match cmd {
        ReviewCommand::List {
            store,
            status,
            limit,
            format,
        } => {
            let store = open_existing(&store.store).await?;
            let items = store.review_items(status.status(), limit).await?;
            match format {
                Format::Json => {
                    let rows: Vec<_> = items.iter().map(summary).collect();
                    println!("{}", serde_json::to_string_pretty(&rows)?);
                }
                Format::Text => {
                    if items.is_empty() {
                        match status.status() {
                            Some(s) => println!("no {s} reviews"),
                            None => println!("no reviews"),
                        }
                        return Ok(());
                    }
                    println!(
                        "{:<12}  {:<27}  {:<8}  {:<20}  {:<20}  reason",
                        "id", "created", "status", "layer", "request"
                    );
                    for i in &items {
                        println!(
                            "{:<12}  {:<27}  {:<8}  {:<20}  {:<20}  {}",
                            i.id,
                            i.created_at,
                            i.status,
                            i.layer,
                            truncate(&i.request_id, 20),
                            truncate(&i.reason, 60)
                        );
                    }
                }
            }
            Ok(())
        }
        ReviewCommand::Show { id, store, format } => {
            let store = open_existing(&store.store).await?;
            let item = store.review_item(&id).await?;
            let trail = store.audit_records_for_request(&item.request_id).await?;
            match format {
                Format::Json => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&json!({"review": item, "audit": trail}))?
                    );
                }
                Format::Text => {
                    print_item(&item);
                    println!("exchange:");
                    println!("{}", serde_json::to_string_pretty(&item.exchange)?);
                    println!("audit trail of request {}:", item.request_id);
                    for r in &trail {
                        println!(
                            "  {:>8}  {}  {:<8} {:<20} {}",
                            r.seq,
                            r.ts,
                            r.event.kind,
                            r.event.layer.as_deref().unwrap_or("-"),
                            r.event.verdict
                        );
                    }
                }
            }
            Ok(())
        }
        ReviewCommand::Approve(args) => decide(args, ReviewDecision::Approve).await,
        ReviewCommand::Reject(args) => decide(args, ReviewDecision::Reject).await,
    }
}

async fn decide(args: DecideArgs, decision: ReviewDecision) -> Result<()> {
    let by = match args.by.or_else(|| std::env::var("USER").ok()) {
        Some(by) if !by.trim().is_empty() => by,
        _ => bail!("say who decides with --by NAME (or set EMMENTAL_REVIEWER)"),
    };
    let store = open_existing(&args.store.store).await?;
    let item = store
        .decide_review(&args.id, decision, &by, args.note.as_deref())
        .await?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&summary(&item))?),
        Format::Text => println!(
            "review {} {} by {} at {} (audited)",
            item.id,
            item.status,
            by,
            item.decided_at.as_deref().unwrap_or("?")
        ),
    }
    Ok(())
}

/// An item without its exchange, for lists.
fn summary(i: &ReviewItem) -> serde_json::Value {
    json!({
        "id": i.id, "created_at": i.created_at, "status": i.status, "request_id": i.request_id,
        "key_id": i.key_id, "layer": i.layer, "reason": i.reason, "decided_at": i.decided_at,
        "decided_by": i.decided_by, "note": i.note,
    })
}

fn print_item(i: &ReviewItem) {
    println!("review {} ({})", i.id, i.status);
    println!("  created   {}", i.created_at);
    println!("  request   {}", i.request_id);
    if let Some(key) = &i.key_id {
        println!("  key id    {key}");
    }
    println!("  layer     {}", i.layer);
    println!("  reason    {}", i.reason);
    if let Some(at) = &i.decided_at {
        println!(
            "  decided   {at} by {}",
            i.decided_by.as_deref().unwrap_or("?")
        );
    }
    if let Some(note) = &i.note {
        println!("  note      {note}");
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}
