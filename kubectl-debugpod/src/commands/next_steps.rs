//! The "what to run next" lines `create`, `create --copy` and `node` print under a new session:
//! one aligned label per line and the exact command, so the three read alike.

use std::io::{self, Write};

/// One line: `label` and the `kubectl debugpod` subcommand to run on the session.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// What the line is for (`shell`, `network`, `delete`, ...).
    pub label: &'a str,
    /// The subcommand and its leading words, before the session id (`shell`, `exec`).
    pub verb: &'a str,
    /// Words after the session id (`network` for `exec ID network`).
    pub after_id: &'a str,
    /// A remark printed after the command, in parentheses.
    pub note: Option<&'a str>,
}

impl<'a> Step<'a> {
    /// A step `kubectl debugpod VERB ID -n NS`.
    pub const fn new(label: &'a str, verb: &'a str) -> Self {
        Step {
            label,
            verb,
            after_id: "",
            note: None,
        }
    }

    /// A step `kubectl debugpod exec ID PRESET -n NS`.
    pub const fn exec(label: &'a str, preset: &'a str) -> Self {
        Step {
            label,
            verb: "exec",
            after_id: preset,
            note: None,
        }
    }

    /// The same step with a remark after the command.
    pub const fn with_note(self, note: &'a str) -> Self {
        Step {
            note: Some(note),
            ..self
        }
    }
}

/// A labelled line: two spaces, `label:` padded to `width` columns, then `text`.
pub fn labelled(out: &mut dyn Write, width: usize, label: &str, text: &str) -> io::Result<()> {
    writeln!(out, "  {:<width$}{text}", format!("{label}:"))
}

/// Prints each step for session `id` in namespace `ns`, labels padded to `width` columns.
pub fn print(
    out: &mut dyn Write,
    width: usize,
    id: &str,
    ns: &str,
    steps: &[Step<'_>],
) -> io::Result<()> {
    for step in steps {
        let after = if step.after_id.is_empty() {
            String::new()
        } else {
            format!(" {}", step.after_id)
        };
        let mut command = format!("kubectl debugpod {} {id}{after} -n {ns}", step.verb);
        if let Some(note) = step.note {
            command.push_str(&format!("   ({note})"));
        }
        labelled(out, width, step.label, &command)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(width: usize, steps: &[Step<'_>]) -> String {
        let mut out = Vec::new();
        print(&mut out, width, "ab12cd", "web", steps).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn commands_are_aligned_after_the_label() {
        let text = printed(
            10,
            &[
                Step::new("shell", "shell"),
                Step::exec("network", "network"),
                Step::new("delete", "cleanup"),
            ],
        );
        assert_eq!(
            text,
            "  shell:    kubectl debugpod shell ab12cd -n web\n\
             \x20 network:  kubectl debugpod exec ab12cd network -n web\n\
             \x20 delete:   kubectl debugpod cleanup ab12cd -n web\n"
        );
    }

    #[test]
    fn a_note_follows_the_command_and_a_wider_column_pads_more() {
        let text = printed(
            12,
            &[Step::new("shell", "shell").with_note("the node's own shell")],
        );
        assert_eq!(
            text,
            "  shell:      kubectl debugpod shell ab12cd -n web   (the node's own shell)\n"
        );
    }
}
