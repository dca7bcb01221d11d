//! `adtop submit --dialect debci`: one request in debci's dialect, published as `debci
//! enqueue` publishes it (queue declared durable with `x-max-priority` 10, default exchange,
//! a priority, 5 unless asked), but persistent and confirmed, with `mandatory`.
//!
//! debci's collector records a result only under a job id its database has: `--run-id` names
//! one (created by debci's web UI, API or `debci enqueue`); adtop does not write debci's
//! database.

use anyhow::{Context, Result, bail};

use crate::broker::{Session, publish, topology};
use crate::protocol::debci::{self, DebciQueue, DebciRequest, Pin, derived_uuid};

/// What to queue, and where.
#[derive(Debug, Clone)]
pub struct DebciSubmission {
    pub queue: String,
    pub request: DebciRequest,
    pub priority: u8,
}

/// The parts of a request as `adtop submit` takes them.
pub struct DebciArgs<'a> {
    pub package: &'a str,
    pub suite: &'a str,
    pub arch: &'a str,
    pub backend: Option<&'a str>,
    pub queue: Option<&'a str>,
    pub run_id: Option<&'a str>,
    pub triggers: &'a [String],
    pub pins: &'a [String],
    pub sources: &'a [String],
    /// Contents of the signing key files.
    pub keys: Vec<String>,
    pub priority: Option<u8>,
}

impl DebciSubmission {
    /// Build and validate: the body is checked by the same parser a worker uses, so what is
    /// refused here would be refused there.
    pub fn new(a: DebciArgs<'_>) -> Result<Self> {
        let queue = match (a.queue, a.backend) {
            (Some(q), _) => q.to_string(),
            (None, Some(b)) => DebciQueue::new(a.arch, b)?.to_string(),
            (None, None) => bail!(
                "--dialect debci needs --backend B (queue debci-tests-{}-B) or --debci-queue NAME",
                a.arch
            ),
        };
        let Some(run_id) = a.run_id else {
            bail!(
                "--dialect debci needs --run-id ID: the id of the job in debci's database, under which its collector records the result"
            );
        };
        let priority = a.priority.unwrap_or(debci::DEFAULT_PRIORITY);
        if priority > debci::MAX_PRIORITY {
            bail!(
                "--priority {priority}: debci's queues take 0 to {}",
                debci::MAX_PRIORITY
            );
        }
        let trigger = (!a.triggers.is_empty()).then(|| a.triggers.join(" "));
        let mut pins = Vec::new();
        for p in a.pins {
            let (suite, pkgs) = p
                .split_once('=')
                .with_context(|| format!("--pin-packages {p:?}: expected SUITE=PKG[,src:SRC…]"))?;
            pins.push(Pin {
                suite: suite.to_string(),
                packages: pkgs.split(',').map(str::to_string).collect(),
            });
        }
        let draft = DebciRequest {
            package: a.package.to_string(),
            suite: a.suite.to_string(),
            run_id: run_id.to_string(),
            trigger,
            pins,
            extra_apt_sources: a.sources.to_vec(),
            signing_keys: a.keys,
        };
        let request = DebciRequest::parse(draft.body().as_bytes())
            .map_err(|e| anyhow::anyhow!("invalid debci request: {e}"))?;
        Ok(Self {
            queue,
            request,
            priority,
        })
    }

    /// The uuid adtop's workers and views will know this request by.
    pub fn uuid(&self) -> String {
        derived_uuid(&self.queue, self.request.body().as_bytes())
    }
}

/// Declare the queue as debci does and publish, confirmed. Returns the queue's consumers
/// before the publish (0: no worker serves it).
pub async fn submit(session: &Session, s: &DebciSubmission) -> Result<u32> {
    let (_, consumers) = topology::declare_request_queue(
        &session.confirm,
        &s.queue,
        &topology::debci_queue_config(),
    )
    .await?;
    let props = publish::persistent().with_priority(s.priority);
    publish::publish_confirmed(
        &session.confirm,
        "",
        &s.queue,
        s.request.body().as_bytes(),
        props,
        true,
    )
    .await?;
    Ok(consumers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args<'a>(triggers: &'a [String], pins: &'a [String]) -> DebciArgs<'a> {
        DebciArgs {
            package: "hello",
            suite: "unstable",
            arch: "amd64",
            backend: Some("lxc"),
            queue: None,
            run_id: Some("42"),
            triggers,
            pins,
            sources: &[],
            keys: Vec::new(),
            priority: None,
        }
    }

    #[test]
    fn builds_what_debci_enqueue_would() {
        let t = vec!["hello/2.0".to_string(), "libfoo/1".to_string()];
        let p = vec!["experimental=src:hello".to_string()];
        let s = DebciSubmission::new(args(&t, &p)).expect("valid");
        assert_eq!(s.queue, "debci-tests-amd64-lxc");
        assert_eq!(s.priority, 5);
        assert_eq!(
            s.request.body(),
            "hello unstable run-id:42 trigger:hello%2F2.0+libfoo%2F1 pin-packages:experimental=src:hello"
        );
        assert_eq!(s.uuid().len(), 36);
    }

    #[test]
    fn refuses_with_reasons() {
        let none: Vec<String> = Vec::new();
        let mut a = args(&none, &none);
        a.run_id = None;
        let e = DebciSubmission::new(a).expect_err("no run id").to_string();
        assert!(e.contains("--run-id"), "{e}");
        let mut a = args(&none, &none);
        a.run_id = Some("x1");
        let e = DebciSubmission::new(a).expect_err("bad run id").to_string();
        assert!(e.contains("invalid run-id"), "{e}");
        let mut a = args(&none, &none);
        a.priority = Some(11);
        assert!(DebciSubmission::new(a).is_err());
        let mut a = args(&none, &none);
        a.backend = None;
        assert!(DebciSubmission::new(a).is_err());
        let mut a = args(&none, &none);
        a.package = "../etc";
        assert!(DebciSubmission::new(a).is_err());
    }
}
