//! A deployment's broker nodes: the AMQP URLs a part may connect to, tried in turn, so that
//! losing one node of a cluster moves connections to another instead of stopping them.
//!
//! The list travels as one string (URLs separated by spaces or commas) so that every part that
//! used to hold one URL holds the whole cluster without knowing about it.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The URLs of a list, in order. Empty entries are skipped.
pub fn split(list: &str) -> impl Iterator<Item = &str> {
    list.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

/// One string for several URLs, the form [`split`] reads.
pub fn join(urls: &[String]) -> String {
    urls.join(" ")
}

/// The first URL of a list: where credentials and the vhost are read from.
pub fn first(list: &str) -> &str {
    split(list).next().unwrap_or(list)
}

/// Every URL with its password hidden, for messages and the console header.
pub fn redact_all(list: &str) -> String {
    split(list)
        .map(super::redact_one)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `host:port` of a URL (no credentials, no vhost): how the console names a node.
pub fn host_port(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}:{}",
            u.host_str().unwrap_or("?"),
            u.port()
                .unwrap_or(if u.scheme() == "amqps" { 5671 } else { 5672 })
        ),
        Err(_) => "<unparseable URL>".to_string(),
    }
}

/// The node a session is on, as the console header shows it: `host:port`, the vhost, and for
/// a cluster which of how many nodes (never the user or password).
pub fn describe(list: &str, node: &str) -> String {
    let urls: Vec<&str> = split(list).collect();
    let vhost = url::Url::parse(first(list))
        .map(|u| {
            let path = u.path().trim_start_matches('/').to_string();
            let v = percent_encoding::percent_decode_str(&path)
                .decode_utf8_lossy()
                .to_string();
            if v.is_empty() { "/".to_string() } else { v }
        })
        .unwrap_or_else(|_| "?".into());
    // The default vhost goes without saying; any other must be seen.
    let vhost = if vhost == "/" {
        String::new()
    } else {
        format!(" vhost {vhost}")
    };
    match urls.iter().position(|u| host_port(u) == node) {
        Some(i) if urls.len() > 1 => {
            format!("{node}{vhost} (node {} of {})", i + 1, urls.len())
        }
        _ => format!("{node}{vhost}"),
    }
}

/// Which node of the list to try first: the one that last answered, so that a part does not
/// keep knocking on a dead first node before every reconnect.
static LAST_GOOD: AtomicUsize = AtomicUsize::new(0);

/// The URLs in the order to try them: from the one that last answered, round the list.
pub fn order(list: &str) -> Vec<&str> {
    rotated(list, LAST_GOOD.load(Ordering::Relaxed))
}

fn rotated(list: &str, start: usize) -> Vec<&str> {
    let urls: Vec<&str> = split(list).collect();
    if urls.is_empty() {
        return vec![list];
    }
    let start = start % urls.len();
    urls.iter()
        .cycle()
        .skip(start)
        .take(urls.len())
        .copied()
        .collect()
}

/// Remember that `url` answered.
pub fn answered(list: &str, url: &str) {
    if let Some(i) = split(list).position(|u| u == url) {
        LAST_GOOD.store(i, Ordering::Relaxed);
    }
}

/// Check every URL of the list before trying any.
pub fn check(list: &str) -> anyhow::Result<()> {
    let mut n = 0;
    for url in split(list) {
        super::check_url(url)?;
        n += 1;
    }
    if n == 0 {
        anyhow::bail!("no broker URL given; expected amqp://user:pass@host:5672/vhost");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_splits_on_spaces_and_commas_and_hides_passwords() {
        let list = "amqp://u:pw@a:5701/%2f, amqp://u:pw@b:5702/%2f  amqp://c";
        assert_eq!(split(list).count(), 3);
        assert_eq!(first(list), "amqp://u:pw@a:5701/%2f");
        let shown = redact_all(list);
        assert!(!shown.contains("pw"), "{shown}");
        assert_eq!(host_port("amqp://u:pw@b:5702/%2f"), "b:5702");
        assert_eq!(host_port("amqp://c"), "c:5672");
        assert_eq!(describe(list, "b:5702"), "b:5702 (node 2 of 3)");
        assert_eq!(
            describe("amqp://u:pw@a:5999/ci", "a:5999"),
            "a:5999 vhost ci"
        );
        assert!(check(list).is_ok());
        assert!(check("amqp://a http://b").is_err());
        assert!(check(" , ").is_err());
    }

    #[test]
    fn order_starts_at_the_node_that_last_answered() {
        let list = "amqp://a amqp://b amqp://c";
        assert_eq!(rotated(list, 1), vec!["amqp://b", "amqp://c", "amqp://a"]);
        assert_eq!(rotated(list, 3), vec!["amqp://a", "amqp://b", "amqp://c"]);
        assert_eq!(rotated("amqp://a", 2), vec!["amqp://a"]);
    }
}
