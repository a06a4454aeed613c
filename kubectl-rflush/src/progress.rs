//! Progress on a terminal: keys scanned (estimated from the SCAN cursors) against DBSIZE,
//! keys deleted, rate and ETA. Nothing is drawn when stderr is not a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The fraction of the keyspace a SCAN cursor has covered. Redis increments the cursor's
/// bits in reverse, so the bit-reversed cursor, read as a 64-bit fraction, is the share of
/// hash-table buckets already visited (exact for a stable table, close during a resize).
pub fn cursor_fraction(cursor: u64) -> f64 {
    if cursor == 0 {
        return 0.0;
    }
    cursor.reverse_bits() as f64 / 18_446_744_073_709_551_616.0
}

/// A progress bar that may be hidden.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar of `total` keys (DBSIZE), labelled `verb`; hidden unless stderr is a terminal.
    pub fn new(total: u64, verb: &str) -> Self {
        let bar = ProgressBar::with_draw_target(
            Some(total.max(1)),
            ProgressDrawTarget::stderr_with_hz(8),
        );
        if !std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        let style = ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {{bar:30}} scanned ~{{human_pos}}/{{human_len}} keys, {verb} {{msg}} (ETA {{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(250));
        Progress { bar }
    }

    /// Updates the scanned estimate and the counter message.
    pub fn update(&self, scanned: u64, message: String) {
        self.bar
            .set_position(scanned.min(self.bar.length().unwrap_or(u64::MAX)));
        self.bar.set_message(message);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_fraction_follows_reverse_binary_iteration() {
        assert_eq!(cursor_fraction(0), 0.0);
        // With a 4-bucket table the cursor visits 0, 2, 1, 3: reversed, 0, 1/2, 1/4, 3/4.
        assert_eq!(cursor_fraction(2), 0.25);
        assert_eq!(cursor_fraction(1), 0.5);
        assert_eq!(cursor_fraction(3), 0.75);
    }
}
