//! The decisions of one rotation, kept apart from the work so they can be tested on their own:
//! given what happened so far ([`Facts`]), which step runs next ([`next`]); once none is left,
//! how the rotation ended and what the user is told ([`conclude`]).
//!
//! The rule this module holds: a rotation is `rolled back` only when the backup was put back
//! *and* every workload restarted for the new certificate was restarted again. Anything less
//! says so (the Secret is NOT restored, or the workloads are NOT restarted back) and says how to
//! finish by hand.

use std::path::PathBuf;

use crate::rotation::Outcome;

/// Who is being rotated, for the messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Namespace.
    pub namespace: String,
    /// The name the user types (Certificate or config name).
    pub name: String,
    /// The Secret's name.
    pub secret: String,
}

impl Subject {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// What the backup step did.
#[derive(Debug)]
pub enum Backup {
    /// The Secret was backed up into `dir`; `restore_command` puts it back.
    Taken {
        /// The backup directory.
        dir: PathBuf,
        /// `kubectl certs restore DIR`.
        restore_command: String,
    },
    /// There was no Secret to back up: this rotation creates it.
    NoSecret,
    /// Backing up failed; nothing was changed.
    Failed(anyhow::Error),
}

/// What the issue step did.
#[derive(Debug)]
pub enum Issuance {
    /// A new certificate was written to the Secret (by cert-manager, or by us from Vault).
    Written,
    /// The issuer refused, or the result failed a check before the write: nothing was written.
    Failed(anyhow::Error),
    /// cert-manager did not finish within `--timeout`.
    TimedOut(anyhow::Error),
}

/// What the rollback step did.
#[derive(Debug)]
pub enum Restore {
    /// The backup is back in the Secret and every restarted workload was restarted again.
    Done,
    /// The backup is back in the Secret, but these workloads (`kind/name`) were not restarted
    /// again (or did not roll out), for the reason in `error`.
    NotRestarted {
        /// The workloads still running pods that loaded the new certificate.
        workloads: Vec<String>,
        /// Why (the first failure).
        error: anyhow::Error,
    },
    /// Putting the backup back failed: the Secret still holds the new certificate.
    Failed(anyhow::Error),
}

/// The result of a step after the write: checking the Secret, restarting, verifying the endpoint.
pub type StepResult = Result<(), anyhow::Error>;

/// Everything that happened so far in one rotation. Each step's field is `None` until it ran.
#[derive(Debug)]
pub struct Facts {
    /// Who.
    pub subject: Subject,
    /// `--endpoint` was given, so the served certificate is verified.
    pub endpoint: bool,
    /// The backup step.
    pub backup: Option<Backup>,
    /// The issue step.
    pub issuance: Option<Issuance>,
    /// Checking that the Secret holds a new, valid certificate.
    pub secret_check: Option<StepResult>,
    /// Restarting what mounts the Secret and waiting for the rollouts.
    pub restart: Option<StepResult>,
    /// Workloads (`kind/name`) restarted for the new certificate, also when a later one failed.
    pub restarted: Vec<String>,
    /// Verifying the endpoint serves the new certificate.
    pub served: Option<StepResult>,
    /// The rollback.
    pub restore: Option<Restore>,
}

impl Facts {
    /// Nothing has happened yet.
    pub fn new(subject: Subject, endpoint: bool) -> Self {
        Facts {
            subject,
            endpoint,
            backup: None,
            issuance: None,
            secret_check: None,
            restart: None,
            restarted: Vec::new(),
            served: None,
            restore: None,
        }
    }

    /// The backup directory and its restore command, when a backup was taken.
    fn backup_taken(&self) -> Option<(&PathBuf, &str)> {
        match &self.backup {
            Some(Backup::Taken {
                dir,
                restore_command,
            }) => Some((dir, restore_command)),
            _ => None,
        }
    }
}

/// A step of a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Back up the Secret (when it exists).
    Backup,
    /// Issue the new certificate into the Secret.
    Issue,
    /// Check that the Secret holds a new, valid certificate.
    CheckSecret,
    /// Restart what mounts the Secret and wait for the rollouts.
    Restart,
    /// Check that the endpoint serves the new certificate.
    VerifyServed,
    /// Put the backup back and restart the restarted workloads again.
    Rollback,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Run this step.
    Run(Step),
    /// Nothing is left to do: [`conclude`].
    Conclude,
}

/// The next step, given what happened so far.
pub fn next(f: &Facts) -> Next {
    match &f.backup {
        None => return Next::Run(Step::Backup),
        Some(Backup::Failed(_)) => return Next::Conclude,
        Some(Backup::Taken { .. } | Backup::NoSecret) => {}
    }
    match &f.issuance {
        None => return Next::Run(Step::Issue),
        Some(Issuance::Failed(_) | Issuance::TimedOut(_)) => return Next::Conclude,
        Some(Issuance::Written) => {}
    }
    // The Secret has changed: from here on, a failure means putting the backup back.
    let after_write = [
        (&f.secret_check, Step::CheckSecret, true),
        (&f.restart, Step::Restart, true),
        (&f.served, Step::VerifyServed, f.endpoint),
    ];
    for (result, step, wanted) in after_write {
        match result {
            _ if !wanted => {}
            None => return Next::Run(step),
            Some(Ok(())) => {}
            Some(Err(_)) if f.backup_taken().is_some() && f.restore.is_none() => {
                return Next::Run(Step::Rollback);
            }
            Some(Err(_)) => return Next::Conclude,
        }
    }
    Next::Conclude
}

/// How a rotation ended.
#[derive(Debug)]
pub struct Conclusion {
    /// The outcome.
    pub outcome: Outcome,
    /// What to print, in order (empty when rotated). Each is one `error:` chain; the last one
    /// says where things stand and carries the `hint:` with what to do now.
    pub errors: Vec<anyhow::Error>,
}

/// The outcome and the messages, once [`next`] says [`Next::Conclude`].
pub fn conclude(f: Facts) -> Conclusion {
    let key = f.subject.key();
    let Subject {
        namespace,
        name,
        secret,
    } = &f.subject;
    let backup_note = f
        .backup_taken()
        .map(|(dir, _)| format!(" (backup at {})", dir.display()))
        .unwrap_or_default();
    let unchanged = format!("the Secret and workloads were left unchanged{backup_note}");
    let restart_again = |what: &[String]| {
        format!(
            "`kubectl rollout restart {} -n {namespace}`",
            what.join(" ")
        )
    };
    let facts_backup_taken = f.backup_taken().map(|(d, c)| (d.clone(), c.to_string()));
    let restarted = f.restarted;

    // Before the write: nothing changed.
    let issuance = match (f.backup, f.issuance) {
        (Some(Backup::Failed(e)), _) => {
            return Conclusion::one(
                Outcome::Failed,
                failure(
                    format!("{key}: the backup failed, so nothing was changed"),
                    None,
                    e,
                ),
            );
        }
        (_, Some(Issuance::Failed(e))) => {
            return Conclusion::one(Outcome::Failed, failure(key, Some(unchanged), e));
        }
        (_, Some(Issuance::TimedOut(e))) => {
            let hint = format!(
                "cert-manager may still finish and write the Secret; nothing was restarted{backup_note}. \
                 Check it with `kubectl certs check {name} -n {namespace}`, then re-run the rotation"
            );
            return Conclusion::one(Outcome::TimedOut, failure(key, Some(hint), e));
        }
        (_, issuance) => issuance,
    };
    let Some(Issuance::Written) = issuance else {
        // `next` never concludes here; say so rather than claim success.
        return Conclusion::one(
            Outcome::Failed,
            failure(
                key,
                Some(unchanged),
                anyhow::anyhow!("the rotation stopped before the certificate was issued"),
            ),
        );
    };

    // After the write: the first failure, if any, and what the rollback did about it.
    let cause = [f.secret_check, f.restart, f.served]
        .into_iter()
        .flatten()
        .find_map(Result::err);
    let Some(cause) = cause else {
        return Conclusion {
            outcome: Outcome::Rotated,
            errors: Vec::new(),
        };
    };
    let rerun = format!("fix the cause, then re-run `kubectl certs rotate {name} -n {namespace}`");
    match (facts_backup_taken, f.restore) {
        (Some((dir, _)), Some(Restore::Done)) => {
            let restarted_again = if restarted.is_empty() {
                String::new()
            } else {
                format!(" and {} restarted again to load it", restarted.join(", "))
            };
            Conclusion::one(
                Outcome::RolledBack,
                failure(
                    format!("{key} rolled back"),
                    Some(format!(
                        "the previous Secret was restored from {}{restarted_again}; {rerun}",
                        dir.display()
                    )),
                    cause,
                ),
            )
        }
        (Some((dir, _)), Some(Restore::NotRestarted { workloads, error })) => Conclusion {
            outcome: Outcome::RolledBackNotRestarted,
            errors: vec![
                failure(key.clone(), None, cause),
                failure(
                    format!(
                        "{key}: the previous Secret was restored from {}, but {} NOT restarted back",
                        dir.display(),
                        workloads.join(", ")
                    ),
                    Some(format!(
                        "run {} so the pods load the restored Secret",
                        restart_again(&workloads)
                    )),
                    error,
                ),
            ],
        },
        (Some((_, restore_command)), restore) => {
            let by_hand = if restarted.is_empty() {
                format!("restore it by hand: `{restore_command}`")
            } else {
                format!(
                    "restore it by hand: `{restore_command}`, then {}",
                    restart_again(&restarted)
                )
            };
            let errors = match restore {
                Some(Restore::Failed(error)) => vec![
                    failure(key.clone(), None, cause),
                    failure(
                        format!("{key}: the Secret is NOT restored"),
                        Some(by_hand),
                        error,
                    ),
                ],
                // `next` always runs the rollback when there is a backup; say so if it did not.
                Some(Restore::Done | Restore::NotRestarted { .. }) | None => vec![failure(
                    format!(
                        "{key} failed and the Secret is NOT restored (the rollback did not run)"
                    ),
                    Some(by_hand),
                    cause,
                )],
            };
            Conclusion {
                outcome: Outcome::FailedNotRestored,
                errors,
            }
        }
        (None, _) => Conclusion::one(
            Outcome::FailedNotRestored,
            failure(
                format!(
                    "{key} failed and the Secret is NOT restored: there was no Secret {secret} before, so no backup"
                ),
                Some(format!(
                    "the new Secret stays in place: check it with `kubectl certs validate {name} -n {namespace}`, \
                     or delete it with `kubectl delete secret {secret} -n {namespace}`"
                )),
                cause,
            ),
        ),
    }
}

impl Conclusion {
    fn one(outcome: Outcome, error: anyhow::Error) -> Self {
        Conclusion {
            outcome,
            errors: vec![error],
        }
    }
}

/// `message` (and `hint`, followed by the cause's own hint if it has one) on top of the chain
/// of `cause`.
fn failure(message: String, hint: Option<String>, cause: anyhow::Error) -> anyhow::Error {
    let hint = hint.map(|ours| match shared::exit::find_hint(cause.as_ref()) {
        Some(theirs) => format!("{ours}; {theirs}"),
        None => ours,
    });
    shared::Error::failed(
        message,
        hint,
        Some(cause.reallocate_into_boxed_dyn_error_without_backtrace()),
    )
    .into()
}

/// The exit code of a run: 0 when every rotation succeeded, 1 when one failed (whether or not
/// it was rolled back), else 124 (cert-manager did not finish within `--timeout`).
pub fn exit_code(outcomes: impl IntoIterator<Item = Outcome>) -> u8 {
    let mut code = 0;
    for o in outcomes {
        match o {
            Outcome::Rotated | Outcome::Planned => {}
            Outcome::TimedOut => code = code.max(super::EXIT_TIMEOUT),
            Outcome::Failed
            | Outcome::RolledBack
            | Outcome::RolledBackNotRestarted
            | Outcome::FailedNotRestored => return shared::exit::FAILURE,
        }
    }
    code
}

#[cfg(test)]
mod tests;
