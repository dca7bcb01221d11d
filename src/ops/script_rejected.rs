//! `adtop rejected`: list, show, resubmit and discard what workers refused ([`super::rejected`]).

use std::path::Path;

use anyhow::{Context as _, Result};

use super::Context;
use super::rejected::{self, Rejected};
use super::rules::Verb;
use super::script::{print_json, report, session};
use crate::protocol::names;
use crate::protocol::sanitize::{inert, line};

/// Largest fixed body read from `--file`: a worker refuses anything larger anyway.
const FIXED_MAX: u64 = 1 << 20;

fn when(r: &Rejected) -> String {
    r.rejected_at
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "?".into())
}

pub async fn list(ctx: &Context, json: bool) -> Result<u8> {
    let s = session(ctx, "rejected").await?;
    let listed = rejected::list(&s).await;
    s.close().await;
    let (total, all) = listed?;
    if json {
        return print_json(&all).map(|_| 0);
    }
    out!(
        "{:<12} {:<19} {:<28} {:<20} {:<16} {:<20} REASON",
        "ID",
        "REJECTED (UTC)",
        "SOURCE QUEUE",
        "WORKER",
        "CODE",
        "PACKAGE"
    );
    for r in &all {
        out!(
            "{:<12} {:<19} {:<28} {:<20} {:<16} {:<20} {}",
            r.id,
            when(r),
            line(&r.source_queue),
            line(&r.worker),
            line(&r.reason_code),
            line(&r.package),
            line(&r.reason)
        );
    }
    if total as usize > all.len() {
        eprintln!(
            "adtop: {} more in {} not listed (at most {} are read)",
            total as usize - all.len(),
            names::REJECTED_QUEUE,
            rejected::LIST_CAP
        );
    }
    Ok(0)
}

pub async fn show(ctx: &Context, id: &str, json: bool) -> Result<u8> {
    let s = session(ctx, "rejected").await?;
    let found = rejected::find(&s, id).await;
    s.close().await;
    let r = found?;
    if json {
        return print_json(&r).map(|_| 0);
    }
    // Headers on stderr, the body alone on stdout: `show ID > fixed.txt` is the file to edit.
    eprintln!("id:           {}", r.id);
    eprintln!("rejected at:  {}", when(&r));
    eprintln!("source queue: {}", line(&r.source_queue));
    eprintln!("worker:       {}", line(&r.worker));
    eprintln!(
        "reason:       {} ({})",
        line(&r.reason),
        line(&r.reason_code)
    );
    out!("{}", inert(&r.body, true));
    Ok(0)
}

/// The fixed body from `--file` (or `-`, standard input), bounded.
fn read_fixed(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let mut buf = Vec::new();
    let what = path.display().to_string();
    if what == "-" {
        std::io::stdin()
            .take(FIXED_MAX + 1)
            .read_to_end(&mut buf)
            .context("cannot read standard input")?;
    } else {
        std::fs::File::open(path)
            .with_context(|| format!("cannot read {what}"))?
            .take(FIXED_MAX + 1)
            .read_to_end(&mut buf)
            .with_context(|| format!("cannot read {what}"))?;
    }
    if buf.len() as u64 > FIXED_MAX {
        anyhow::bail!("{what} is larger than {FIXED_MAX} bytes: not a request body");
    }
    // An editor's final newline is not part of the request.
    if buf.ends_with(b"\n") {
        buf.pop();
    }
    Ok(buf)
}

pub async fn resubmit(ctx: &Context, id: &str, file: Option<&Path>) -> Result<u8> {
    let fixed = file.map(read_fixed).transpose()?;
    let s = session(ctx, "rejected resubmit").await?;
    let target = match rejected::find(&s, id).await {
        Ok(r) => r.target(),
        Err(e) => {
            s.close().await;
            return Err(e);
        }
    };
    let outcome = rejected::resubmit(ctx, &s, id, fixed.as_deref()).await;
    report(ctx, &s, Verb::Resubmit, &target, outcome).await
}

pub async fn discard(ctx: &Context, id: &str) -> Result<u8> {
    let s = session(ctx, "rejected discard").await?;
    let target = match rejected::find(&s, id).await {
        Ok(r) => r.target(),
        Err(e) => {
            s.close().await;
            return Err(e);
        }
    };
    let outcome = rejected::discard(&s, id).await;
    report(ctx, &s, Verb::Discard, &target, outcome).await
}
