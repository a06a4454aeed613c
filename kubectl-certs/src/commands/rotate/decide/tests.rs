//! The decision layer over every combination of step results, and the exact messages of
//! the cases users meet.

use super::*;
use anyhow::anyhow;
use shared::exit::format_report;

fn subject() -> Subject {
    Subject {
        namespace: "ns".into(),
        name: "web".into(),
        secret: "web-tls".into(),
    }
}

fn taken() -> Backup {
    Backup::Taken {
        dir: PathBuf::from("/b/1-ns-web"),
        restore_command: "kubectl certs restore /b/1-ns-web".into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum B {
    Taken,
    NoSecret,
    Failed,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum I {
    Written,
    Failed,
    TimedOut,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum R {
    Done,
    NotRestarted,
    Failed,
}

/// What each step would report, for one scripted rotation.
#[derive(Debug, Clone, Copy)]
struct Script {
    backup: B,
    issuance: I,
    check_ok: bool,
    restart_ok: bool,
    restarts_a_workload: bool,
    endpoint: bool,
    served_ok: bool,
    restore: R,
}

/// Drives `next` the way `execute` does, answering from the script; returns the steps run
/// and the conclusion.
fn drive(s: Script) -> (Vec<Step>, Conclusion) {
    let mut f = Facts::new(subject(), s.endpoint);
    let mut steps = Vec::new();
    let result = |ok: bool, what: &str| -> StepResult {
        if ok {
            Ok(())
        } else {
            Err(anyhow!("{what} failed"))
        }
    };
    loop {
        let step = match next(&f) {
            Next::Conclude => break,
            Next::Run(step) => step,
        };
        assert!(!steps.contains(&step), "{step:?} ran twice: {steps:?}");
        assert!(steps.len() < 6, "too many steps: {steps:?}");
        steps.push(step);
        match step {
            Step::Backup => {
                f.backup = Some(match s.backup {
                    B::Taken => taken(),
                    B::NoSecret => Backup::NoSecret,
                    B::Failed => Backup::Failed(anyhow!("cannot create /b")),
                })
            }
            Step::Issue => {
                f.issuance = Some(match s.issuance {
                    I::Written => Issuance::Written,
                    I::Failed => Issuance::Failed(anyhow!("the CA refused")),
                    I::TimedOut => Issuance::TimedOut(anyhow!("timed out after 90s")),
                })
            }
            Step::CheckSecret => f.secret_check = Some(result(s.check_ok, "check")),
            Step::Restart => {
                if s.restarts_a_workload {
                    f.restarted.push("deployment/web".into());
                }
                f.restart = Some(result(s.restart_ok, "restart"));
            }
            Step::VerifyServed => f.served = Some(result(s.served_ok, "verify")),
            Step::Rollback => {
                f.restore = Some(match s.restore {
                    R::Done => Restore::Done,
                    R::NotRestarted => Restore::NotRestarted {
                        workloads: vec!["deployment/web".into()],
                        error: anyhow!("restart again failed"),
                    },
                    R::Failed => Restore::Failed(anyhow!("forbidden")),
                })
            }
        }
    }
    (steps, conclude(f))
}

fn every_script() -> Vec<Script> {
    let mut all = Vec::new();
    for backup in [B::Taken, B::NoSecret, B::Failed] {
        for issuance in [I::Written, I::Failed, I::TimedOut] {
            for bits in 0..32u8 {
                for restore in [R::Done, R::NotRestarted, R::Failed] {
                    all.push(Script {
                        backup,
                        issuance,
                        check_ok: bits & 1 != 0,
                        restart_ok: bits & 2 != 0,
                        restarts_a_workload: bits & 4 != 0,
                        endpoint: bits & 8 != 0,
                        served_ok: bits & 16 != 0,
                        restore,
                    });
                }
            }
        }
    }
    all
}

/// The steps and outcome each script must lead to, written out independently of `next`.
fn expected(s: Script) -> (Vec<Step>, Outcome) {
    let mut steps = vec![Step::Backup];
    if s.backup == B::Failed {
        return (steps, Outcome::Failed);
    }
    steps.push(Step::Issue);
    match s.issuance {
        I::Failed => return (steps, Outcome::Failed),
        I::TimedOut => return (steps, Outcome::TimedOut),
        I::Written => {}
    }
    steps.push(Step::CheckSecret);
    let mut failed = !s.check_ok;
    if !failed {
        steps.push(Step::Restart);
        failed = !s.restart_ok;
    }
    if !failed && s.endpoint {
        steps.push(Step::VerifyServed);
        failed = !s.served_ok;
    }
    if !failed {
        return (steps, Outcome::Rotated);
    }
    if s.backup == B::NoSecret {
        return (steps, Outcome::FailedNotRestored);
    }
    steps.push(Step::Rollback);
    let outcome = match s.restore {
        R::Done => Outcome::RolledBack,
        R::NotRestarted => Outcome::RolledBackNotRestarted,
        R::Failed => Outcome::FailedNotRestored,
    };
    (steps, outcome)
}

#[test]
fn every_combination_runs_the_right_steps_and_ends_truthfully() {
    let scripts = every_script();
    assert_eq!(scripts.len(), 3 * 3 * 32 * 3);
    for s in scripts {
        let (steps, c) = drive(s);
        let (want_steps, want) = expected(s);
        assert_eq!(steps, want_steps, "{s:?}");
        assert_eq!(c.outcome, want, "{s:?}");
        let reports: Vec<String> = c.errors.iter().map(|e| format_report(e.as_ref())).collect();
        let last = reports.last().cloned().unwrap_or_default();
        match c.outcome {
            Outcome::Rotated => assert!(c.errors.is_empty(), "{s:?}: {reports:?}"),
            Outcome::RolledBack => {
                assert_eq!(reports.len(), 1, "{s:?}");
                assert!(last.starts_with("error: ns/web rolled back: "), "{last}");
                assert!(last.contains("restored from /b/1-ns-web"), "{last}");
                assert!(!last.contains("NOT"), "{last}");
            }
            Outcome::FailedNotRestored => {
                assert!(last.contains("the Secret is NOT restored"), "{s:?}: {last}");
                if s.backup == B::Taken {
                    assert!(
                        last.contains(
                            "hint: restore it by hand: `kubectl certs restore /b/1-ns-web`"
                        ),
                        "{last}"
                    );
                } else {
                    assert!(last.contains("no backup"), "{last}");
                    assert!(
                        last.contains("kubectl delete secret web-tls -n ns"),
                        "{last}"
                    );
                }
                // Whoever restores by hand must also restart what loaded the new certificate.
                if s.backup == B::Taken && steps.contains(&Step::Restart) && s.restarts_a_workload {
                    assert!(
                        last.contains("`kubectl rollout restart deployment/web -n ns`"),
                        "{last}"
                    );
                }
            }
            Outcome::RolledBackNotRestarted => {
                assert_eq!(reports.len(), 2, "{s:?}");
                assert!(last.contains("deployment/web NOT restarted back"), "{last}");
                assert!(
                    last.contains("hint: run `kubectl rollout restart deployment/web -n ns`"),
                    "{last}"
                );
            }
            Outcome::Failed | Outcome::TimedOut => {
                assert_eq!(reports.len(), 1, "{s:?}");
                assert!(!last.contains("rolled back"), "{last}");
            }
            Outcome::Planned => panic!("a run never concludes as planned"),
        }
        // The first failure is always printed, and so is why the rollback fell short.
        let cause = match (s.backup, s.issuance) {
            (B::Failed, _) => Some("cannot create /b"),
            (_, I::Failed) => Some("the CA refused"),
            (_, I::TimedOut) => Some("timed out after 90s"),
            _ if !s.check_ok => Some("check failed"),
            _ if !s.restart_ok => Some("restart failed"),
            _ if s.endpoint && !s.served_ok => Some("verify failed"),
            _ => None,
        };
        let printed = reports.concat();
        if let Some(cause) = cause {
            assert!(printed.contains(cause), "{s:?}: {printed}");
        }
        if c.outcome == Outcome::RolledBackNotRestarted {
            assert!(printed.contains("restart again failed"), "{printed}");
        }
        if c.outcome == Outcome::FailedNotRestored && s.backup == B::Taken {
            assert!(printed.contains("forbidden"), "{printed}");
        }
    }
}

#[test]
fn rolled_back_names_the_cause_the_backup_and_the_restarts() {
    let mut f = Facts::new(subject(), true);
    f.backup = Some(taken());
    f.issuance = Some(Issuance::Written);
    f.secret_check = Some(Ok(()));
    f.restarted = vec!["deployment/web".into()];
    f.restart = Some(Ok(()));
    f.served = Some(Err(anyhow!(
        "verification failed: svc/web:8443 serves AA, not the new certificate BB"
    )));
    assert_eq!(next(&f), Next::Run(Step::Rollback));
    f.restore = Some(Restore::Done);
    assert_eq!(next(&f), Next::Conclude);
    let c = conclude(f);
    assert_eq!(c.outcome, Outcome::RolledBack);
    assert_eq!(
        format_report(c.errors[0].as_ref()),
        "error: ns/web rolled back: verification failed: svc/web:8443 serves AA, not the new certificate BB\n\
         hint: the previous Secret was restored from /b/1-ns-web and deployment/web restarted again to load it; \
         fix the cause, then re-run `kubectl certs rotate web -n ns`\n"
    );
}

#[test]
fn a_failed_restore_says_not_restored_and_how_to_restore_by_hand() {
    let mut f = Facts::new(subject(), true);
    f.backup = Some(taken());
    f.issuance = Some(Issuance::Written);
    f.secret_check = Some(Ok(()));
    f.restarted = vec!["deployment/web".into()];
    f.restart = Some(Ok(()));
    f.served = Some(Err(anyhow!("verification failed: svc/web:8443 serves AA")));
    f.restore = Some(Restore::Failed(
        anyhow::Error::new(shared::Error::invalid(
            "secrets is forbidden",
            "ask for update on secrets",
        ))
        .context("replace secret ns/web-tls with the backup"),
    ));
    let c = conclude(f);
    assert_eq!(c.outcome, Outcome::FailedNotRestored);
    let printed: Vec<String> = c.errors.iter().map(|e| format_report(e.as_ref())).collect();
    assert_eq!(
        printed,
        [
            "error: ns/web: verification failed: svc/web:8443 serves AA\n".to_string(),
            "error: ns/web: the Secret is NOT restored: replace secret ns/web-tls with the backup: secrets is forbidden\n\
             hint: restore it by hand: `kubectl certs restore /b/1-ns-web`, then `kubectl rollout restart deployment/web -n ns`; \
             ask for update on secrets\n"
                .to_string(),
        ]
    );
}

#[test]
fn no_backup_means_not_restored_and_says_what_to_do() {
    let mut f = Facts::new(subject(), false);
    f.backup = Some(Backup::NoSecret);
    f.issuance = Some(Issuance::Written);
    f.secret_check = Some(Err(anyhow!(
        "verification failed: the new certificate is not valid: expired"
    )));
    assert_eq!(
        next(&f),
        Next::Conclude,
        "no backup: nothing to roll back to"
    );
    let c = conclude(f);
    assert_eq!(c.outcome, Outcome::FailedNotRestored);
    assert_eq!(
        format_report(c.errors[0].as_ref()),
        "error: ns/web failed and the Secret is NOT restored: there was no Secret web-tls before, so no backup: \
         verification failed: the new certificate is not valid: expired\n\
         hint: the new Secret stays in place: check it with `kubectl certs validate web -n ns`, \
         or delete it with `kubectl delete secret web-tls -n ns`\n"
    );
}

#[test]
fn restored_but_not_restarted_back_says_which_and_how() {
    let mut f = Facts::new(subject(), false);
    f.backup = Some(taken());
    f.issuance = Some(Issuance::Written);
    f.secret_check = Some(Ok(()));
    f.restarted = vec!["deployment/web".into(), "statefulset/db".into()];
    f.restart = Some(Err(anyhow!(
        "the rollout of statefulset/db did not finish within 60s"
    )));
    f.restore = Some(Restore::NotRestarted {
        workloads: vec!["deployment/web".into(), "statefulset/db".into()],
        error: anyhow!("the rollout of statefulset/db did not finish within 60s"),
    });
    let c = conclude(f);
    assert_eq!(c.outcome, Outcome::RolledBackNotRestarted);
    assert_eq!(
        format_report(c.errors[1].as_ref()),
        "error: ns/web: the previous Secret was restored from /b/1-ns-web, but deployment/web, statefulset/db NOT restarted back: \
         the rollout of statefulset/db did not finish within 60s\n\
         hint: run `kubectl rollout restart deployment/web statefulset/db -n ns` so the pods load the restored Secret\n"
    );
}

#[test]
fn a_refused_issuance_changed_nothing_and_keeps_the_issuers_hint() {
    let mut f = Facts::new(subject(), false);
    f.backup = Some(taken());
    f.issuance = Some(Issuance::Failed(
        shared::Error::invalid("permission denied", "check VAULT_TOKEN").into(),
    ));
    assert_eq!(next(&f), Next::Conclude);
    let c = conclude(f);
    assert_eq!(c.outcome, Outcome::Failed);
    assert_eq!(
        format_report(c.errors[0].as_ref()),
        "error: ns/web: permission denied\n\
         hint: the Secret and workloads were left unchanged (backup at /b/1-ns-web); check VAULT_TOKEN\n"
    );
}

#[test]
fn exit_codes() {
    use Outcome::*;
    assert_eq!(exit_code([]), 0);
    assert_eq!(exit_code([Rotated, Rotated]), 0);
    assert_eq!(exit_code([Rotated, TimedOut]), 124);
    for failed in [
        Failed,
        RolledBack,
        RolledBackNotRestarted,
        FailedNotRestored,
    ] {
        assert_eq!(exit_code([TimedOut, failed, Rotated]), 1, "{failed:?}");
        assert_eq!(exit_code([failed, TimedOut]), 1, "{failed:?}");
    }
}
