//! Confirmations for destructive steps. With `--yes` nothing is asked; when stdin is not a
//! terminal nothing is asked either and the step is refused, with a one-line error that
//! says to pass `--yes`.

use std::io::IsTerminal;

use crate::error::{Error, Result};

/// How a confirmation may be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `--yes` was given.
    AssumeYes,
    /// Ask on the terminal (refuse when there is none).
    Ask,
}

impl Answer {
    /// `AssumeYes` when `yes` is set.
    pub fn from_flag(yes: bool) -> Self {
        if yes { Answer::AssumeYes } else { Answer::Ask }
    }
}

/// Whether a prompt can be shown: stdin and stderr are terminals.
pub fn can_prompt() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks `question` (default: no). `action` names the step in errors ("flush 1,204 keys").
pub fn confirm(answer: Answer, action: &str, question: &str) -> Result<()> {
    if answer == Answer::AssumeYes {
        return Ok(());
    }
    if !can_prompt() {
        return Err(Error::NeedsConfirmation {
            action: action.to_string(),
        });
    }
    let yes = dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(|e| Error::Prompt(std::io::Error::other(e)))?;
    if yes {
        Ok(())
    } else {
        Err(Error::Declined {
            action: action.to_string(),
        })
    }
}

/// For the most dangerous steps: the user must type `expected` (e.g. the database address).
/// `--yes` alone is not enough for these; callers pass `AssumeYes` only when an explicit
/// extra flag was also given.
pub fn confirm_typed(answer: Answer, action: &str, question: &str, expected: &str) -> Result<()> {
    if answer == Answer::AssumeYes {
        return Ok(());
    }
    if !can_prompt() {
        return Err(Error::NeedsConfirmation {
            action: action.to_string(),
        });
    }
    let typed: String = dialoguer::Input::new()
        .with_prompt(format!("{question}\nType {expected:?} to confirm"))
        .allow_empty(true)
        .interact_text()
        .map_err(|e| Error::Prompt(std::io::Error::other(e)))?;
    if typed.trim() == expected {
        Ok(())
    } else {
        Err(Error::Declined {
            action: action.to_string(),
        })
    }
}
