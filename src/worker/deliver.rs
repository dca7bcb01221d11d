//! The end of a request's life: pack, spool, store, announce, acknowledge — in that order, so
//! that a request is acknowledged only once its result is safe and announced exactly once.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;
use lapin::options::BasicAckOptions;

use super::job::{Attempt, Holding, Job};
use super::{Flow, Worker, hold, results};
use crate::broker::{Backoff, Session, publish};
use crate::protocol::messages::{CompleteExtra, IndexEntry, TestComplete};
use crate::protocol::{Request, layout, names};
use crate::store::spool::{self, SpoolEntry, announced_key};
use crate::store::{Access, ObjectMeta};

/// Was this uuid's result already stored (by us before a failure, or by another worker)?
pub async fn already_done(w: &Worker, uuid: &str) -> bool {
    if w.opts
        .spool
        .pending()
        .map(|p| p.iter().any(|e| e.uuid == uuid))
        .unwrap_or(false)
    {
        return true;
    }
    matches!(
        w.opts
            .store
            .get(names::INDEX_CONTAINER, &layout::uuid_key(uuid))
            .await,
        Ok(Some(_))
    )
}

pub async fn finish(
    w: &mut Worker,
    session: &Session,
    job: &Job,
    holding: Holding,
    a: Attempt,
    attempts: u32,
) -> Result<Flow> {
    let out = a.out();
    let p = &job.req.params;
    let requester = p.requester.clone().unwrap_or_default();
    let private = p.private();
    prepare_output(&out, &job.req, &a)?;
    let packed = results::pack(&out).context("pack results")?;
    let container = layout::container(&job.queue.release, &p.ppas, private);
    let version = std::fs::read_to_string(out.join("testpkg-version")).unwrap_or_default();
    let version = version.trim().to_string();
    let finished = Utc::now();
    let class = a.code.class();
    // The index is read by every operator: a private PPA's token stays out of it.
    let body = if private {
        Request {
            package: job.req.package.clone(),
            params: p.redacted(),
        }
        .body()
    } else {
        String::from_utf8_lossy(&job.body).to_string()
    };
    let mut entry = SpoolEntry {
        uuid: job.uuid.clone(),
        container: container.clone(),
        access: match &p.swiftuser {
            Some(user) if private => Access::Private(user.clone()),
            _ => Access::Public,
        },
        run_dir: String::new(),
        hash5: Request::body_hash5(&job.body),
        stored: false,
        files: packed.names(),
        index: IndexEntry {
            uuid: job.uuid.clone(),
            package: job.req.package.clone(),
            release: job.queue.release.clone(),
            arch: job.queue.arch.clone(),
            queue: job.queue.to_string(),
            exitcode: a.code.0,
            class,
            container: container.clone(),
            swift_dir: String::new(),
            duration: a.duration,
            finished,
            worker: w.opts.id.clone(),
            triggers: p.triggers.clone(),
            requester: requester.clone(),
            testpkg_version: version.clone(),
            body,
            private,
        },
        complete: TestComplete {
            architecture: job.queue.arch.clone(),
            container,
            duration: a.duration,
            exitcode: a.code.0,
            package: job.req.package.clone(),
            testpkg_version: bare_version(&version),
            release: job.queue.release.clone(),
            requester,
            swift_dir: String::new(),
            triggers: p.triggers_joined(),
            env: p.completion_env(),
            uuid: job.uuid.clone(),
            adtop: Some(CompleteExtra {
                worker: w.opts.id.clone(),
                queue: job.queue.to_string(),
                class,
                attempts,
                finished,
            }),
        },
    };
    let files = packed.objects();
    if let Ok(mut s) = w.shared.lock() {
        s.done += 1;
        match class {
            crate::protocol::Class::Fail => s.failed += 1,
            crate::protocol::Class::Tmpfail => s.tmpfailed += 1,
            _ => {}
        }
    }
    tracing::info!(
        "{}: finished with exit code {} ({})",
        job.uuid,
        a.code.0,
        a.code.describe()
    );
    // The common case goes straight to the store. The spool is for when the store or the broker
    // is away: then the result waits there, and the request stays unacknowledged.
    if let Err(e) = spool::upload(&mut entry, &files, &w.opts.store).await {
        tracing::warn!(
            "{}: store unavailable ({e:#}); keeping the result in the spool",
            entry.uuid
        );
        entry.stored = false;
        w.opts.spool.add(&entry, &files)?;
        return deliver(w, session, &mut entry, Some(holding)).await;
    }
    let flow = announce_and_ack(w, session, &entry, Some(holding)).await?;
    if flow == Flow::Reconnect && !announced(w, &entry.uuid).await {
        // Stored but not announced: the spool announces it after reconnecting.
        w.opts.spool.add(&entry, &files)?;
    }
    Ok(flow)
}

async fn announced(w: &Worker, uuid: &str) -> bool {
    matches!(
        w.opts
            .store
            .get(names::INDEX_CONTAINER, &announced_key(uuid))
            .await,
        Ok(Some(_))
    )
}

/// Store (waiting for the store if it is down), announce once, acknowledge, forget.
pub async fn deliver(
    w: &mut Worker,
    session: &Session,
    entry: &mut SpoolEntry,
    holding: Option<Holding>,
) -> Result<Flow> {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    while let Err(e) = w.opts.spool.store(entry, &w.opts.store).await {
        let delay = backoff.next_delay();
        tracing::warn!(
            "{}: store unavailable ({e:#}); result kept in the spool, retrying in {}s",
            entry.uuid,
            delay.as_secs()
        );
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = w.signals.next() => {}
        }
        if !session.alive() {
            return Ok(Flow::Reconnect);
        }
    }
    announce_and_ack(w, session, entry, holding).await
}

/// Announce once, acknowledge, forget the spool entry (if any).
async fn announce_and_ack(
    w: &mut Worker,
    session: &Session,
    entry: &SpoolEntry,
    holding: Option<Holding>,
) -> Result<Flow> {
    // A request moved to the held queue and reclaimed meanwhile is being run again elsewhere:
    // announcing here too would announce it twice.
    if let Some(Holding::Held { .. }) = &holding
        && !hold::release(&session.confirm, &w.opts.id, &entry.uuid).await?
    {
        tracing::warn!(
            "{}: its held request was reclaimed by another worker; stored, not announced",
            entry.uuid
        );
        w.opts.spool.remove(&entry.uuid)?;
        return Ok(Flow::Continue);
    }
    if announce_once(w, session, &entry.complete).await? == Flow::Reconnect {
        return Ok(Flow::Reconnect);
    }
    if let Some(Holding::Delivery(d)) = holding
        && let Err(e) = d.ack(BasicAckOptions::default()).await
    {
        // The connection dropped after the announcement: the broker will deliver the request
        // again, and `already_done` acknowledges it without running it twice.
        tracing::warn!(
            "{}: acknowledgement failed ({e}); the redelivery will be recognised",
            entry.uuid
        );
        w.opts.spool.remove(&entry.uuid)?;
        return Ok(Flow::Reconnect);
    }
    w.opts.spool.remove(&entry.uuid)?;
    Ok(Flow::Continue)
}

/// After (re)connecting: deliver whatever finished while the broker or store was away.
pub async fn flush_spool(w: &mut Worker, session: &Session) -> Result<Flow> {
    for mut entry in w.opts.spool.pending()? {
        tracing::info!("{}: delivering a spooled result", entry.uuid);
        if deliver(w, session, &mut entry, None).await? == Flow::Reconnect {
            return Ok(Flow::Reconnect);
        }
    }
    Ok(Flow::Continue)
}

/// Publish the completion unless the `announced/<uuid>` marker says it already was.
async fn announce_once(w: &Worker, session: &Session, complete: &TestComplete) -> Result<Flow> {
    let marker = announced_key(&complete.uuid);
    if matches!(
        w.opts.store.get(names::INDEX_CONTAINER, &marker).await,
        Ok(Some(_))
    ) {
        return Ok(Flow::Continue);
    }
    let body = serde_json::to_vec(complete)?;
    let props = publish::persistent().with_content_type("application/json".into());
    if let Err(e) = publish::publish_confirmed(
        &session.confirm,
        names::TESTCOMPLETE_EXCHANGE,
        "",
        &body,
        props,
        false,
    )
    .await
    {
        tracing::warn!(
            "{}: cannot announce the completion yet ({e}); it waits in the spool",
            complete.uuid
        );
        return Ok(Flow::Reconnect);
    }
    let meta = ObjectMeta {
        content_type: Some("text/plain"),
        content_encoding: None,
    };
    if let Err(e) = w
        .opts
        .store
        .put(
            names::INDEX_CONTAINER,
            &marker,
            Utc::now().to_rfc3339().into_bytes(),
            meta,
        )
        .await
    {
        tracing::warn!(
            "{}: announced, but could not record it ({e})",
            complete.uuid
        );
    }
    Ok(Flow::Continue)
}

/// A redelivered request whose result is already stored: make sure it is announced once,
/// even if the worker that stored it died before announcing and never came back.
pub async fn announce_stored(w: &mut Worker, session: &Session, uuid: &str) -> Result<Flow> {
    if let Some(mut entry) = w.opts.spool.pending()?.into_iter().find(|e| e.uuid == uuid) {
        return deliver(w, session, &mut entry, None).await;
    }
    let Some(data) = w
        .opts
        .store
        .get(names::INDEX_CONTAINER, &layout::uuid_key(uuid))
        .await?
    else {
        return Ok(Flow::Continue);
    };
    let e: IndexEntry = serde_json::from_slice(&data).context("corrupt index entry")?;
    announce_once(w, session, &complete_from_index(&e)).await
}

/// The completion message of a stored result, rebuilt from its index entry.
pub fn complete_from_index(e: &IndexEntry) -> TestComplete {
    let env = Request::parse(e.body.as_bytes())
        .map(|r| r.params.completion_env())
        .unwrap_or_default();
    TestComplete {
        architecture: e.arch.clone(),
        container: e.container.clone(),
        duration: e.duration,
        exitcode: e.exitcode,
        package: e.package.clone(),
        testpkg_version: bare_version(&e.testpkg_version),
        release: e.release.clone(),
        requester: e.requester.clone(),
        swift_dir: e.swift_dir.clone(),
        triggers: e.triggers.join(" "),
        env,
        uuid: e.uuid.clone(),
        adtop: Some(CompleteExtra {
            worker: e.worker.clone(),
            queue: e.queue.clone(),
            class: e.class,
            attempts: 0,
            finished: e.finished,
        }),
    }
}

/// The second word of `testpkg-version` (`hello 1.0-1` gives `1.0-1`), as autopkgtest-cloud
/// sends it; `unknown` and `blacklisted` pass through the same way.
pub fn bare_version(testpkg_version: &str) -> String {
    let mut words = testpkg_version.split_whitespace();
    match (words.next(), words.next()) {
        (_, Some(v)) => v.to_string(),
        (Some(only), None) => only.to_string(),
        _ => String::new(),
    }
}

/// Write what autopkgtest-cloud's worker adds to an output directory before packing: exit code,
/// duration, requester, `testpkg-version` when autopkgtest wrote none (`<pkg> unknown`), a
/// `testinfo.json` with the triggers when it is missing (britney ignores a result without it),
/// and `readable-by`. Returns the files written, for `result.tar`.
fn prepare_output(out: &Path, req: &Request, a: &Attempt) -> Result<()> {
    let p = &req.params;
    let mut files = vec![
        ("exitcode", format!("{}\n", a.code.0)),
        ("duration", format!("{}\n", a.duration)),
    ];
    if !out.join("testpkg-version").is_file() {
        files.push(("testpkg-version", format!("{} unknown\n", req.package)));
    }
    if !out.join("testinfo.json").is_file() {
        let info = if p.triggers.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::json!({
                "custom_environment": [format!("ADT_TEST_TRIGGERS={}", p.triggers_joined())]
            })
        };
        files.push(("testinfo.json", serde_json::to_string_pretty(&info)?));
    }
    if let Some(r) = &p.requester {
        files.push(("requester", format!("{r}\n")));
    }
    match &p.readable_by {
        Some(serde_json::Value::Array(users)) => {
            let users: Vec<&str> = users.iter().filter_map(|u| u.as_str()).collect();
            files.push((layout::READABLE_BY_OBJECT, users.join("\n")));
        }
        Some(serde_json::Value::String(user)) => {
            files.push((layout::READABLE_BY_OBJECT, format!("{user}\n")));
        }
        _ => {}
    }
    std::fs::create_dir_all(out).context("output directory")?;
    for (name, content) in &files {
        std::fs::write(out.join(name), content).with_context(|| format!("write {name}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_versions_like_autopkgtest_cloud() {
        assert_eq!(bare_version("hello 1.0-1\n"), "1.0-1");
        assert_eq!(bare_version("hello blacklisted"), "blacklisted");
        assert_eq!(bare_version("hello unknown"), "unknown");
        assert_eq!(bare_version(""), "");
    }
}
