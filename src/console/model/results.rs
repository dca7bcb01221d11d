//! Recent results from the results index, newest first, and the filters over them.

pub use crate::ops::rules::{ClassFilter, ResultFilter};
use crate::protocol::messages::IndexEntry;

#[derive(Debug, Clone)]
pub struct Results {
    /// Newest first.
    entries: Vec<IndexEntry>,
    cap: usize,
    /// Room beyond `cap` for a package's history (`:package`), so that its older results are
    /// not pushed out at once by the recent ones.
    room: usize,
}

impl Results {
    pub fn new(cap: usize) -> Self {
        Self {
            entries: Vec::new(),
            cap: cap.max(1),
            room: 0,
        }
    }

    /// Keep up to `n` more results than the cap (0: back to the cap at the next insert).
    pub fn make_room(&mut self, n: usize) {
        self.room = n;
    }

    pub fn insert(&mut self, entry: IndexEntry) {
        if let Some(i) = self.entries.iter().position(|e| e.uuid == entry.uuid) {
            self.entries.remove(i);
        }
        let at = self
            .entries
            .partition_point(|e| e.finished > entry.finished);
        self.entries.insert(at, entry);
        self.entries.truncate(self.cap.saturating_add(self.room));
    }

    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::demo;
    use crate::protocol::exitcode::Class;

    #[test]
    fn filters_by_class_release_arch_package() {
        let now = demo::now();
        let entries: Vec<IndexEntry> = demo::results(now);
        let f = ResultFilter {
            class: ClassFilter::Failures,
            ..Default::default()
        };
        assert!(
            entries
                .iter()
                .filter(|e| f.matches(e))
                .all(|e| e.class == Class::Fail)
        );
        assert!(entries.iter().any(|e| f.matches(e)));
        let f = ResultFilter {
            release: Some("plucky".into()),
            arch: Some("s390x".into()),
            ..Default::default()
        };
        assert!(
            entries
                .iter()
                .filter(|e| f.matches(e))
                .all(|e| e.release == "plucky" && e.arch == "s390x")
        );
        let f = ResultFilter {
            package: Some("no-such".into()),
            ..Default::default()
        };
        assert_eq!(entries.iter().filter(|e| f.matches(e)).count(), 0);
    }

    #[test]
    fn keeps_newest_first_and_capped() {
        let now = demo::now();
        let mut r = Results::new(3);
        for (i, mut e) in demo::results(now).into_iter().enumerate() {
            e.finished = now - chrono::Duration::seconds(i as i64 * 7 % 5);
            r.insert(e);
        }
        assert_eq!(r.len(), 3);
        assert!(
            r.entries()
                .windows(2)
                .all(|w| w[0].finished >= w[1].finished)
        );
    }
}
