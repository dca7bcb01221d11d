//! `adtop audit`: the audit trail from the store, oldest first, streamed (however long the
//! span, nothing is held but one day's listing).

use anyhow::{Context as _, Result};
use chrono::Utc;

use super::Context;
use crate::protocol::messages::AuditRecord;
use crate::protocol::names;
use crate::protocol::sanitize::line;

pub async fn audit(ctx: &Context, since: &str, json: bool) -> Result<u8> {
    let now = Utc::now();
    let since = super::since::parse_since(since, now)?;
    // Keys are `YYYYMMDD/HHMMSS.fff_id`: the listing says which records are recent enough
    // before any is read.
    let first_key = crate::protocol::layout::audit_key(since, "");
    let first_day = format!("{}/", since.format("%Y%m%d"));
    // One listing names the days that have records: a span of years costs no more requests
    // than the days in it that saw an action.
    let days = ctx
        .store
        .list(names::AUDIT_CONTAINER, "", Some('/'))
        .await
        .context("list the audit trail")?;
    let mut n = 0usize;
    if json {
        out_part!("[");
    } else {
        out!(
            "{:<23} {:<16} {:<20} {:<13} {:<4} {:<40} OUTCOME",
            "AT (UTC)",
            "OPERATOR",
            "HOST",
            "ACTION",
            "OK",
            "TARGET"
        );
    }
    for prefix in days.iter().filter(|d| d.as_str() >= first_day.as_str()) {
        let keys = ctx
            .store
            .list(names::AUDIT_CONTAINER, prefix, None)
            .await
            .context("list the audit trail")?;
        for key in keys.iter().filter(|k| k.as_str() >= first_key.as_str()) {
            let Some(data) = ctx.store.get(names::AUDIT_CONTAINER, key).await? else {
                continue;
            };
            let Ok(r) = serde_json::from_slice::<AuditRecord>(&data) else {
                continue;
            };
            if json {
                // serde_json escapes control characters: the JSON is inert as it is.
                out_part!(
                    "{}\n  {}",
                    if n == 0 { "" } else { "," },
                    serde_json::to_string(&r)?
                );
            } else {
                out!(
                    "{:<23} {:<16} {:<20} {:<13} {:<4} {:<40} {}",
                    r.at.format("%Y-%m-%d %H:%M:%S%.3f"),
                    line(&r.operator),
                    line(&r.host),
                    line(&r.action),
                    if r.ok { "ok" } else { "FAIL" },
                    line(&r.target),
                    line(&r.outcome)
                );
            }
            n += 1;
        }
    }
    if json {
        out!("{}]", if n == 0 { "" } else { "\n" });
    }
    Ok(0)
}
