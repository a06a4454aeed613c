//! Fleet: one command across several kubeconfig contexts.
//!
//! `--context a,b --context c` (comma-separated, repeatable) or `--all-contexts` (every context
//! of the merged kubeconfig) make a fleet command (`certs list|check`, `debugpod list
//! --sessions|cleanup`, `rflush stats`) run once per context, in parallel (at most
//! [`DEFAULT_PARALLELISM`] at a time), one client per context. A context that fails (unreachable,
//! credentials refused, forbidden, timed out) becomes an outcome of its own and never hides the
//! others: the command prints it as a row, [`Summary`] says on stderr which contexts
//! answered, and the exit code is the worst across contexts ([`worst_exit`]).
//!
//! One context (or none: the current context) means exactly what it meant before fleets:
//! [`fan_out`] then connects like [`ClusterArgs::connect`] and returns the first error as is.
//! A command that cannot run on a fleet refuses several contexts with a usage error
//! ([`refuse_fleet`], also applied by [`ClusterArgs::load_kubeconfig`]).

use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use futures::StreamExt;

use crate::cluster::{ClusterArgs, Connection, LoadedKubeconfig};
use crate::error::{Error, Result};

/// How many contexts are worked on at once.
pub const DEFAULT_PARALLELISM: usize = 8;

/// How long a fleet command waits to connect (TCP and TLS) to one context's API server when
/// `--request-timeout` is not given, so an unreachable cluster costs seconds, not kube's 30 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a fleet command waits for one response from a context's API server when
/// `--request-timeout` is not given: a server that accepts the connection and then never
/// answers costs a minute, not kube's 295 s read timeout. The fleet commands make short
/// requests (LIST pages, GETs, a port-forward for one INFO), never long watches.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The commands of the suite that run on a fleet, for hints.
pub const FLEET_COMMANDS: &str = "certs list|check, debugpod list --sessions|cleanup, rflush stats";

impl ClusterArgs {
    /// The contexts named with `--context`, in the order given, each once.
    pub fn named_contexts(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for name in &self.context {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    /// True when the command line asks for a fleet: `--all-contexts`, or more than one
    /// distinct `--context`.
    pub fn is_fleet(&self) -> bool {
        self.all_contexts || self.named_contexts().len() > 1
    }
}

/// A usage error (exit 2) when the command line asks for a fleet and `what` (e.g. `debugpod
/// list` without --sessions) runs on one context only: a flag that would do nothing is an error.
pub fn refuse_fleet(args: &ClusterArgs, what: &str) -> Result<()> {
    if !args.is_fleet() {
        return Ok(());
    }
    let asked = if args.all_contexts {
        "--all-contexts".to_string()
    } else {
        format!("--context {}", args.named_contexts().join(","))
    };
    Err(Error::Usage {
        message: format!("{what} works on one context; {asked} names several"),
        hint: Some(format!(
            "give one --context NAME (commands that run on several contexts: {FLEET_COMMANDS})"
        )),
    })
}

/// The contexts a command runs on, resolved from the flags and the merged kubeconfig.
#[derive(Debug, Clone)]
pub struct FleetTargets {
    args: ClusterArgs,
    kubeconfig: Option<LoadedKubeconfig>,
    contexts: Vec<String>,
    fleet: bool,
    parallelism: usize,
}

impl FleetTargets {
    /// Reads the kubeconfig when the flags ask for a fleet and checks every named context
    /// exists (an unknown name is an error with close matches, before anything connects).
    /// Without a fleet nothing is read here: [`fan_out`] connects like [`ClusterArgs::connect`].
    pub fn resolve(args: &ClusterArgs) -> Result<Self> {
        if !args.is_fleet() {
            return Ok(FleetTargets {
                args: args.clone(),
                kubeconfig: None,
                contexts: args.named_contexts(),
                fleet: false,
                parallelism: DEFAULT_PARALLELISM,
            });
        }
        Self::from_kubeconfig(args, args.read_kubeconfig(None)?)
    }

    /// [`FleetTargets::resolve`] on a kubeconfig already read (`loaded`).
    pub fn from_kubeconfig(args: &ClusterArgs, loaded: LoadedKubeconfig) -> Result<Self> {
        let known: Vec<String> = loaded
            .kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let contexts = if args.all_contexts {
            if known.is_empty() {
                return Err(Error::Usage {
                    message: format!(
                        "--all-contexts: the kubeconfig ({}) has no contexts",
                        loaded
                            .sources
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    hint: Some("add contexts with `kubectl config set-context`".into()),
                });
            }
            known
        } else {
            let named = args.named_contexts();
            if let Some(missing) = named.iter().find(|n| !known.contains(n)) {
                return Err(Error::unknown_context(missing, known));
            }
            named
        };
        let fleet = args.is_fleet();
        Ok(FleetTargets {
            args: args.clone(),
            kubeconfig: Some(loaded),
            contexts,
            fleet,
            parallelism: DEFAULT_PARALLELISM,
        })
    }

    /// At most `limit` contexts at once (at least one).
    pub fn with_parallelism(mut self, limit: usize) -> Self {
        self.parallelism = limit.max(1);
        self
    }

    /// The contexts, in the order given (`--all-contexts`: the kubeconfig's order). Empty
    /// without a fleet and without `--context` (the current context is used).
    pub fn contexts(&self) -> &[String] {
        &self.contexts
    }

    /// True when the command runs on a fleet: failures become outcomes, rows carry their context.
    pub fn is_fleet(&self) -> bool {
        self.fleet
    }

    /// True when tables need a CONTEXT column: more than one context is in play.
    pub fn shows_context(&self) -> bool {
        self.fleet && self.contexts.len() > 1
    }

    /// The context to stamp on a row (`context` in JSON): the name on a fleet, else `None`.
    pub fn label(&self, context: &str) -> Option<String> {
        self.fleet.then(|| context.to_string())
    }

    /// A client for one context of the fleet: its kubeconfig settings plus the flags (`--as`,
    /// `--request-timeout`, ...); connecting gives up after `--request-timeout`, else
    /// [`DEFAULT_CONNECT_TIMEOUT`], and waiting for a response after [`DEFAULT_READ_TIMEOUT`].
    async fn connect_to(&self, context: &str) -> Result<Connection> {
        let mut loaded = match &self.kubeconfig {
            Some(k) => k.clone(),
            None => self.args.read_kubeconfig(Some(context))?,
        };
        loaded.context = Some(context.to_string());
        let mut config = self.args.client_config(&loaded).await?;
        if self.args.request_timeout.is_none() {
            config.connect_timeout = Some(DEFAULT_CONNECT_TIMEOUT);
            config.read_timeout = Some(DEFAULT_READ_TIMEOUT);
        }
        let client = crate::kube_client::build(config).map_err(Error::Client)?;
        Ok(Connection {
            client,
            kubeconfig: loaded,
        })
    }
}

/// What one context gave: the work's result, or why the context failed.
#[derive(Debug)]
pub struct ContextOutcome<T, E> {
    /// The kubeconfig context.
    pub context: String,
    /// The result of the work in that context.
    pub result: std::result::Result<T, E>,
}

/// Runs `work` once per context, at most [`FleetTargets::with_parallelism`] at a time, and
/// returns the outcomes in the order of the contexts.
///
/// On a fleet a context that cannot be connected to or whose work fails is an `Err` outcome and
/// the others go on; the result is always `Ok`. Without a fleet (one context or the current one)
/// it connects like [`ClusterArgs::connect`] and returns the error itself, so one context keeps
/// today's behaviour: `error: ...` and exit 1.
pub async fn fan_out<T, E, F, Fut>(
    targets: &FleetTargets,
    work: F,
) -> std::result::Result<Vec<ContextOutcome<T, E>>, E>
where
    E: From<Error>,
    F: Fn(String, Connection) -> Fut,
    Fut: Future<Output = std::result::Result<T, E>>,
{
    if !targets.fleet {
        let conn = targets.args.connect().await?;
        let context = conn.kubeconfig.context.clone().unwrap_or_default();
        let value = work(context.clone(), conn).await?;
        return Ok(vec![ContextOutcome {
            context,
            result: Ok(value),
        }]);
    }
    let work = &work;
    let outcomes = futures::stream::iter(targets.contexts.iter().cloned())
        .map(|context| async move {
            let result = match targets.connect_to(&context).await {
                Ok(conn) => work(context.clone(), conn).await,
                Err(e) => Err(E::from(e)),
            };
            ContextOutcome { context, result }
        })
        .buffered(targets.parallelism)
        .collect()
        .await;
    Ok(outcomes)
}

/// A context that failed, ready to become a row: its name and the error as one chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FailedContext {
    /// The kubeconfig context.
    pub context: String,
    /// What went wrong, as `a: b: c`.
    pub error: String,
}

/// The rows of every outcome in context order: an answering context's own rows, and one row
/// made by `failed` for each context that failed.
pub fn rows<I, E, R>(
    outcomes: impl IntoIterator<Item = ContextOutcome<I, E>>,
    mut failed: impl FnMut(FailedContext) -> R,
) -> Vec<R>
where
    I: IntoIterator<Item = R>,
    E: AsRef<dyn StdError + Send + Sync + 'static>,
{
    let mut out = Vec::new();
    for o in outcomes {
        match o.result {
            Ok(items) => out.extend(items),
            Err(e) => out.push(failed(FailedContext {
                context: o.context,
                error: crate::exit::render_chain(e.as_ref()),
            })),
        }
    }
    out
}

/// The rows of a fleet listing whose contexts each answered `(rows, scope)`, and where they were
/// looked for, for "No ... found in ..." messages: the single context's scope (as `describe`
/// writes it), else `N contexts`. A failed context becomes the row `failed` makes.
pub fn listing<R, S, E>(
    targets: &FleetTargets,
    outcomes: Vec<ContextOutcome<(Vec<R>, S), E>>,
    describe: impl Fn(&S) -> String,
    failed: impl FnMut(FailedContext) -> R,
) -> (Vec<R>, String)
where
    E: AsRef<dyn StdError + Send + Sync + 'static>,
{
    let where_ = match outcomes.as_slice() {
        [one] if !targets.is_fleet() => one
            .result
            .as_ref()
            .map(|(_, scope)| describe(scope))
            .unwrap_or_default(),
        many => format!("{} contexts", many.len()),
    };
    let rows = rows(
        outcomes.into_iter().map(|o| ContextOutcome {
            context: o.context,
            result: o.result.map(|(rows, _)| rows),
        }),
        failed,
    );
    (rows, where_)
}

/// What a fleet run says on stderr once its output is printed: who answered, who failed and
/// why, and what to do about the failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// [`summary_line`].
    pub line: String,
    /// The distinct hints of the failures, in context order.
    pub hints: Vec<String>,
}

impl Summary {
    /// The summary of `outcomes` (taken before they are turned into rows).
    pub fn of<T, E>(outcomes: &[ContextOutcome<T, E>]) -> Self
    where
        E: AsRef<dyn StdError + Send + Sync + 'static>,
    {
        let mut hints: Vec<String> = Vec::new();
        for o in outcomes {
            if let Err(e) = &o.result
                && let Some(h) = crate::exit::find_hint(e.as_ref())
                && !hints.contains(&h)
            {
                hints.push(h);
            }
        }
        Summary {
            line: summary_line(outcomes),
            hints,
        }
    }

    /// Prints the line on stderr, then a `hint:` line per hint.
    pub fn print(&self) {
        eprintln!("{}", self.line);
        for h in &self.hints {
            crate::exit::hint(h);
        }
    }
}

/// `3 contexts: 2 answered, 1 failed: ctx-x: <error chain>` (failures joined by `; `).
pub fn summary_line<T, E>(outcomes: &[ContextOutcome<T, E>]) -> String
where
    E: AsRef<dyn StdError + Send + Sync + 'static>,
{
    let failures: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            let e = o.result.as_ref().err()?;
            Some(format!(
                "{}: {}",
                o.context,
                crate::exit::render_chain(e.as_ref())
            ))
        })
        .collect();
    let total = outcomes.len();
    let answered = total - failures.len();
    let noun = if total == 1 { "context" } else { "contexts" };
    if failures.is_empty() {
        format!("{total} {noun}: {answered} answered")
    } else {
        format!(
            "{total} {noun}: {answered} answered, {} failed: {}",
            failures.len(),
            failures.join("; ")
        )
    }
}

/// The worst exit code across contexts: `ok` grades an answer, a failed context counts as
/// `failed`. Codes are ordered so that a higher one is worse (0 ok, 1 failure; `certs check`:
/// 3 warning, 4 critical, 5 unknown).
pub fn worst_exit<T, E>(
    outcomes: &[ContextOutcome<T, E>],
    ok: impl Fn(&T) -> u8,
    failed: u8,
) -> u8 {
    outcomes
        .iter()
        .map(|o| o.result.as_ref().map_or(failed, &ok))
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use clap::Parser;

    use super::*;

    type BoxError = Box<dyn StdError + Send + Sync>;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        cluster: ClusterArgs,
    }

    fn parse(args: &[&str]) -> std::result::Result<ClusterArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied())).map(|c| c.cluster)
    }

    #[test]
    fn context_is_comma_separated_and_repeatable() {
        let args = parse(&["--context", "a,b", "--context", "c"]).unwrap();
        assert_eq!(args.context, ["a", "b", "c"]);
        assert!(args.is_fleet());
        let args = parse(&["--context=a"]).unwrap();
        assert_eq!(args.context, ["a"]);
        assert!(!args.is_fleet());
        assert!(!parse(&[]).unwrap().is_fleet());
        assert!(parse(&["--all-contexts"]).unwrap().is_fleet());
    }

    #[test]
    fn a_context_named_twice_is_one_context() {
        let args = parse(&["--context", "a,a", "--context", "a"]).unwrap();
        assert_eq!(args.named_contexts(), ["a"]);
        assert!(!args.is_fleet());
        assert_eq!(args.single_context().unwrap(), Some("a"));
    }

    #[test]
    fn all_contexts_and_context_conflict() {
        let err = parse(&["--all-contexts", "--context", "a"]).expect_err("a usage error");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn one_cluster_commands_refuse_a_fleet_with_a_usage_error() {
        let args = parse(&["--context", "a,b"]).unwrap();
        let err = args.single_context().unwrap_err();
        assert_eq!(
            crate::exit::format_report(&err),
            format!(
                "error: this command works on one context; --context a,b names several\n\
                 hint: give one --context NAME (commands that run on several contexts: {FLEET_COMMANDS})\n"
            )
        );
        assert_eq!(crate::exit::exit_code_for(&err), crate::exit::USAGE);
        let err = refuse_fleet(&parse(&["--all-contexts"]).unwrap(), "debugpod list").unwrap_err();
        assert_eq!(
            err.to_string(),
            "debugpod list works on one context; --all-contexts names several"
        );
    }

    fn write_kubeconfig(dir: &Path, contexts: &[&str]) -> PathBuf {
        let mut yaml = String::from("apiVersion: v1\nkind: Config\ncurrent-context: ");
        yaml += contexts.first().copied().unwrap_or("none");
        yaml += "\nclusters:\n";
        for name in contexts {
            // Port 1 on loopback: nothing listens, the connection is refused at once.
            yaml += &format!("- name: {name}\n  cluster:\n    server: https://127.0.0.1:1\n");
        }
        yaml += "users:\n- name: u\n  user:\n    token: t\ncontexts:";
        if contexts.is_empty() {
            yaml += " []";
        }
        yaml += "\n";
        for name in contexts {
            yaml += &format!("- name: {name}\n  context:\n    cluster: {name}\n    user: u\n");
        }
        let path = dir.join("config");
        std::fs::write(&path, yaml).unwrap();
        path
    }

    fn args_for(path: &Path, flags: &[&str]) -> ClusterArgs {
        let mut all = vec!["--kubeconfig", path.to_str().unwrap()];
        all.extend(flags);
        parse(&all).unwrap()
    }

    #[test]
    fn resolve_keeps_the_order_given_and_all_contexts_the_kubeconfig_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_kubeconfig(dir.path(), &["prod", "stage", "dev"]);
        let t = FleetTargets::resolve(&args_for(&path, &["--context", "dev,prod"])).unwrap();
        assert_eq!(t.contexts(), ["dev", "prod"]);
        assert!(t.is_fleet() && t.shows_context());
        assert_eq!(t.label("dev").as_deref(), Some("dev"));
        let t = FleetTargets::resolve(&args_for(&path, &["--all-contexts"])).unwrap();
        assert_eq!(t.contexts(), ["prod", "stage", "dev"]);
        let t = FleetTargets::resolve(&args_for(&path, &["--context", "stage"])).unwrap();
        assert!(!t.is_fleet() && !t.shows_context());
        assert_eq!(t.label("stage"), None);
    }

    #[test]
    fn all_contexts_with_one_context_has_no_context_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_kubeconfig(dir.path(), &["only"]);
        let t = FleetTargets::resolve(&args_for(&path, &["--all-contexts"])).unwrap();
        assert!(t.is_fleet());
        assert!(!t.shows_context());
    }

    #[test]
    fn all_contexts_of_an_empty_kubeconfig_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_kubeconfig(dir.path(), &[]);
        let err = FleetTargets::resolve(&args_for(&path, &["--all-contexts"])).unwrap_err();
        assert!(matches!(err, Error::Usage { .. }), "{err:?}");
    }

    #[test]
    fn an_unknown_context_is_named_with_close_matches_before_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_kubeconfig(dir.path(), &["prod", "staging", "dev"]);
        let err =
            FleetTargets::resolve(&args_for(&path, &["--context", "prod,stagng"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"context "stagng" not found in kubeconfig (did you mean "staging"?; known: prod, staging, dev)"#
        );
        assert!(err.hint().unwrap().contains("kubectl config get-contexts"));
    }

    #[tokio::test]
    async fn unreachable_contexts_become_outcomes_in_the_order_given() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_kubeconfig(dir.path(), &["a", "b", "c"]);
        let targets = FleetTargets::resolve(&args_for(&path, &["--context", "c,a,b"]))
            .unwrap()
            .with_parallelism(2);
        let outcomes = fan_out(&targets, |context, conn| async move {
            // The work is reached with the context's own connection.
            assert_eq!(conn.kubeconfig.context.as_deref(), Some(context.as_str()));
            if context == "a" {
                return Ok::<_, BoxError>(vec![1]);
            }
            conn.client
                .apiserver_version()
                .await
                .map_err(|e| BoxError::from(Error::kube("get the server version", e)))?;
            Ok(vec![2])
        })
        .await
        .unwrap();
        let order: Vec<&str> = outcomes.iter().map(|o| o.context.as_str()).collect();
        assert_eq!(order, ["c", "a", "b"]);
        assert!(outcomes[0].result.is_err() && outcomes[2].result.is_err());
        assert_eq!(outcomes[1].result.as_ref().unwrap(), &[1]);
        let line = summary_line(&outcomes);
        assert!(
            line.starts_with("3 contexts: 1 answered, 2 failed: c: get the server version: "),
            "{line}"
        );
        assert!(line.contains("; b: get the server version: "), "{line}");
        assert_eq!(worst_exit(&outcomes, |_| 0, 1), 1);
        let rows = rows(outcomes, |f| -(f.context.len() as i32));
        assert_eq!(rows, [-1, 1, -1]);
    }

    #[tokio::test]
    async fn without_a_fleet_the_error_is_returned_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_kubeconfig(dir.path(), &["a", "b"]);
        let targets = FleetTargets::resolve(&args_for(&path, &["--context", "b"])).unwrap();
        let err = fan_out(&targets, |_, conn| async move {
            conn.client
                .apiserver_version()
                .await
                .map_err(|e| BoxError::from(Error::kube("get the server version", e)))
        })
        .await
        .unwrap_err();
        assert!(
            err.to_string().starts_with("get the server version"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn at_most_the_limit_runs_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..6).map(|i| format!("c{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let path = write_kubeconfig(dir.path(), &refs);
        let targets = FleetTargets::resolve(&args_for(&path, &["--all-contexts"]))
            .unwrap()
            .with_parallelism(2);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let outcomes = fan_out(&targets, |context, _conn| {
            let (running, peak) = (running.clone(), peak.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                tokio::task::yield_now().await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, BoxError>(context)
            }
        })
        .await
        .unwrap();
        let got: Vec<String> = outcomes.into_iter().map(|o| o.result.unwrap()).collect();
        assert_eq!(got, names);
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn worst_exit_is_the_highest_code() {
        let o = |c: &str, r: std::result::Result<u8, BoxError>| ContextOutcome {
            context: c.into(),
            result: r,
        };
        let outcomes = vec![o("a", Ok(3)), o("b", Ok(4)), o("c", Ok(0))];
        assert_eq!(worst_exit(&outcomes, |c| *c, 5), 4);
        let outcomes = vec![o("a", Ok(4)), o("b", Err("down".into()))];
        assert_eq!(worst_exit(&outcomes, |c| *c, 5), 5);
        assert_eq!(
            summary_line(&outcomes),
            "2 contexts: 1 answered, 1 failed: b: down"
        );
        assert_eq!(worst_exit::<u8, BoxError>(&[], |c| *c, 5), 0);
    }

    #[test]
    fn a_listing_names_the_one_scope_or_counts_the_contexts() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_kubeconfig(dir.path(), &["prod", "stage"]);
        type Outcome = ContextOutcome<(Vec<String>, &'static str), BoxError>;
        let failed = |f: FailedContext| format!("{} failed: {}", f.context, f.error);

        let one = FleetTargets::resolve(&args_for(&path, &["--context", "prod"])).unwrap();
        let outcomes: Vec<Outcome> = vec![ContextOutcome {
            context: "prod".into(),
            result: Ok((vec!["r1".into()], "namespace \"web\"")),
        }];
        let (rows, where_) = listing(&one, outcomes, |s| s.to_string(), failed);
        assert_eq!(rows, ["r1"]);
        assert_eq!(where_, "namespace \"web\"");

        let both = FleetTargets::resolve(&args_for(&path, &["--all-contexts"])).unwrap();
        let outcomes: Vec<Outcome> = vec![
            ContextOutcome {
                context: "prod".into(),
                result: Ok((vec!["r1".into(), "r2".into()], "all namespaces")),
            },
            ContextOutcome {
                context: "stage".into(),
                result: Err("refused".into()),
            },
        ];
        let (rows, where_) = listing(&both, outcomes, |s| s.to_string(), failed);
        assert_eq!(rows, ["r1", "r2", "stage failed: refused"]);
        assert_eq!(where_, "2 contexts");
    }
}
