//! Keeps the SCAN loop from acting on a key twice.
//!
//! SCAN may return a key twice while the table is resized: when the table shrinks between two
//! SCAN calls (a mass delete, ours or anyone's, makes Redis shrink it), the next call's bucket
//! of the small table holds the keys of several buckets of the large one, some of which the
//! scan had already visited. Those are the buckets just before the cursor in scan order, at
//! most `large size / small size - 1` of them, so a repeated key was returned by one of the
//! last pages. Growing the table never repeats a key.
//!
//! How long a page's keys must be remembered depends on what the loop does with them:
//!
//! - **Flush that unlinks** ([`DupWindow::forget_before`]): a key can only come back from a
//!   SCAN that ran before the UNLINK of its first copy, and SCANs and UNLINKs share one
//!   connection, so only the keys of pages whose deletes were not yet acknowledged when a
//!   SCAN was sent can come back. The window holds exactly those: memory is bounded by the
//!   pages in flight (the unsynced backup group plus the pages SCAN runs ahead), not by the
//!   size of the flush, and no repeat is missed.
//! - **Spread flush and `backup`** ([`DupWindow::keep_recent`]): the key stays in the table
//!   (with an expiry, or untouched), so it can come back whenever the table shrinks. The
//!   window holds the keys of the most recent pages, at least [`RECENT_KEYS`] of them. A
//!   repeat comes from at most `ratio - 1` buckets back (`ratio` = how many times smaller the
//!   table got between two SCANs), which held about one key each; so a repeat is missed only
//!   when the table shrank more than about [`RECENT_KEYS`]-fold between two SCAN calls of the
//!   scan, i.e. all but one key in 16,384 of the database was deleted within one page's round
//!   trip. The residual risk then: a spread flush counts such a key twice (given an expiry,
//!   or kept), and `backup` writes it twice (`restore` finds the second copy's key present).
//!   Remembering every key instead would grow with the database (10M keys: hundreds of MiB).

use std::collections::{HashSet, VecDeque};

use crate::scan::Key;

/// Keys (at least) a [`DupWindow::keep_recent`] window remembers: about 3 MiB per node for
/// 100-byte keys.
pub const RECENT_KEYS: usize = 16_384;

/// The keys of the pages that a later page could still return again.
#[derive(Default)]
pub struct DupWindow {
    /// Each page's keys that the window admitted, oldest first.
    pages: VecDeque<(u64, Vec<Key>)>,
    /// Every key of `pages`.
    keys: HashSet<Key>,
}

impl DupWindow {
    /// Forgets the pages before `acked` (pages numbered from 0; every delete of the pages
    /// before `acked` was acknowledged before the SCAN of the page at hand was sent).
    pub fn forget_before(&mut self, acked: u64) {
        while self.pages.front().is_some_and(|(index, _)| *index < acked) {
            self.forget_oldest();
        }
    }

    /// Forgets the oldest pages while the younger ones still hold at least `keys` keys.
    pub fn keep_recent(&mut self, keys: usize) {
        while self
            .pages
            .front()
            .is_some_and(|(_, oldest)| self.keys.len() - oldest.len() >= keys)
        {
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        if let Some((_, keys)) = self.pages.pop_front() {
            for k in keys {
                self.keys.remove(&k);
            }
        }
    }

    /// Admits the keys of page `index` that are not in the window yet: one flag per key,
    /// true for a key seen for the first time (a repeat within the page is false too).
    pub fn admit(&mut self, index: u64, keys: &[Key]) -> Vec<bool> {
        let mut new = Vec::new();
        let fresh = keys
            .iter()
            .map(|k| {
                let fresh = self.keys.insert(k.clone());
                if fresh {
                    new.push(k.clone());
                }
                fresh
            })
            .collect();
        match self.pages.back_mut() {
            Some((last, keys)) if *last == index => keys.extend(new),
            _ => self.pages.push_back((index, new)),
        }
        fresh
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
        assert_eq!(w.admit(0, &keys(&["a", "b"])), [true, true]);
        // The shrink hands back "b" on the next page, and a duplicate within the page.
        assert_eq!(w.admit(1, &keys(&["b", "c", "c"])), [false, true, false]);
        assert_eq!(w.len(), 3);
        // Page 0's deletes were acknowledged before page 2 was scanned: its keys can no
        // longer come back, so they leave the window; page 1's stay.
        w.forget_before(1);
        assert_eq!(w.admit(2, &keys(&["a", "c"])), [true, false]);
        w.forget_before(3);
        assert!(w.is_empty());
    }

    #[test]
    fn a_recent_window_keeps_the_newest_pages_holding_at_least_the_asked_keys() {
        let mut w = DupWindow::default();
        for page in 0..10u64 {
            let names: Vec<String> = (0..4).map(|i| format!("{page}:{i}")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            w.keep_recent(6);
            assert!(w.admit(page, &keys(&names)).iter().all(|f| *f));
        }
        // Pages 8 and 9 hold 8 keys; page 9 alone would hold fewer than 6.
        w.keep_recent(6);
        assert_eq!(w.len(), 8);
        assert_eq!(
            w.admit(10, &keys(&["8:0", "9:3", "7:0"])),
            [false, false, true]
        );
    }
}
