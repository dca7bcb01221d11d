//! Validation, in one place: is a delivery a request this worker accepts? The format rules
//! are the protocol's ([`Request::parse`]); this adds where it came from (a request queue)
//! and what this worker can run. Every refusal is a [`Rejection`] with a capped reason.

use super::decide::Rejection;
use crate::protocol::{QueueName, RejectReason, Request};

/// A request the worker accepts, and the queue it came from.
pub fn validate(queue: &str, body: &[u8]) -> Result<(Request, QueueName), Rejection> {
    let req = Request::parse(body).map_err(|r| Rejection::from(&r))?;
    let queue = QueueName::parse(queue).map_err(|_| {
        Rejection::from(&RejectReason::BadValue {
            key: "queue".into(),
            value: queue.to_string(),
            why: "not a request queue",
        })
    })?;
    unsupported(&req)?;
    Ok((req, queue))
}

/// Accepted by the format, not run by this worker yet: refuse rather than test the archive's
/// source instead.
fn unsupported(req: &Request) -> Result<(), Rejection> {
    let p = &req.params;
    let found = [
        ("test-git", &p.test_git),
        ("build-git", &p.build_git),
        ("test-bzr", &p.test_bzr),
    ]
    .into_iter()
    .find_map(|(key, v)| v.clone().map(|v| (key, v)));
    match found {
        Some((key, value)) => Err(Rejection::from(&RejectReason::BadValue {
            key: key.into(),
            value,
            why: "not supported by this worker yet",
        })),
        None => Ok(()),
    }
}

/// The request as the results index records it (and as a redelivery is compared with it): the
/// body as it came, or for a private run the body with its PPA credentials blanked.
pub fn index_body(req: &Request, body: &[u8]) -> String {
    if req.params.private() {
        Request {
            package: req.package.clone(),
            params: req.params.redacted(),
        }
        .body()
    } else {
        String::from_utf8_lossy(body).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::sanitize::REASON_MAX;

    #[test]
    fn refusals_have_capped_reasons() {
        let hostile = format!("{}\n{{}}", "A".repeat(65_000));
        let r = validate("debci-noble-amd64", hostile.as_bytes()).expect_err("bad name");
        assert_eq!(r.code, "bad-package");
        assert!(r.reason.len() <= REASON_MAX + 40, "{}", r.reason.len());
        let r = validate("not-a-queue", b"hello").expect_err("bad queue");
        assert_eq!(r.code, "bad-value");
        let r = validate(
            "debci-noble-amd64",
            b"hello\n{\"test-git\": \"https://x/y\"}",
        )
        .expect_err("unsupported");
        assert!(r.reason.contains("test-git"));
        assert!(validate("debci-noble-amd64", b"hello").is_ok());
    }
}
