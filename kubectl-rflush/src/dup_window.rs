//! Keeps a flush with a backup from writing a key twice.
//!
//! SCAN may return a key twice while the table is resized (the shrinks a mass delete causes
//! included). A second DUMP of the key only finds it if it was sent before the UNLINK of the
//! key's first copy ran, and DUMPs and UNLINKs share one connection, so that is only possible
//! for keys of pages whose deletes were not yet acknowledged when the page was DUMPed. The
//! window holds exactly those keys: each page's keys until a later page was DUMPed after
//! the page's deletes were acknowledged. Memory is bounded by the pages in flight (the
//! unsynced backup group plus the pages SCAN runs ahead), not by the size of the flush.

use std::collections::{HashSet, VecDeque};

use crate::scan::Key;

/// The keys of the pages that a later page's DUMP could still find again.
#[derive(Default)]
pub struct DupWindow {
    pages: VecDeque<(u64, Vec<Key>)>,
    keys: HashSet<Key>,
}

impl DupWindow {
    /// Forgets the pages before `acked` (pages numbered from 0; every delete of the pages
    /// before `acked` was acknowledged before the page at hand was DUMPed).
    pub fn forget_before(&mut self, acked: u64) {
        while let Some((index, _)) = self.pages.front() {
            if *index >= acked {
                break;
            }
            if let Some((_, keys)) = self.pages.pop_front() {
                for k in keys {
                    self.keys.remove(&k);
                }
            }
        }
    }

    /// Keeps the keys of page `index` that are not in the window yet, in order, and adds them.
    pub fn admit(&mut self, index: u64, keys: impl IntoIterator<Item = Key>) -> Vec<Key> {
        let new: Vec<Key> = keys
            .into_iter()
            .filter(|k| self.keys.insert(k.clone()))
            .collect();
        match self.pages.back_mut() {
            Some((last, keys)) if *last == index => keys.extend(new.iter().cloned()),
            _ => self.pages.push_back((index, new.clone())),
        }
        new
    }

    /// Keys held (for tests and bounds).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(names: &[&str]) -> Vec<Key> {
        names.iter().map(|n| n.as_bytes().to_vec()).collect()
    }

    #[test]
    fn a_key_seen_again_while_its_page_is_unacknowledged_is_dropped() {
        let mut w = DupWindow::default();
        assert_eq!(w.admit(0, keys(&["a", "b"])), keys(&["a", "b"]));
        // The shrink hands back "b" on the next page, and a duplicate within the page.
        assert_eq!(w.admit(1, keys(&["b", "c", "c"])), keys(&["c"]));
        assert_eq!(w.len(), 3);
        // Page 0's deletes were acknowledged before page 2 was DUMPed: its keys can no
        // longer come back with a payload, so they leave the window; page 1's stay.
        w.forget_before(1);
        assert_eq!(w.admit(2, keys(&["a", "c"])), keys(&["a"]));
        w.forget_before(3);
        assert!(w.is_empty());
    }
}
