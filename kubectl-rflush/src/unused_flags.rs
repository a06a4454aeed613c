//! Redis connection flags that the chosen way of reaching Redis would not use are usage errors
//! (exit 2), never silently dropped: with a URL (`--redis-url`, `REDIS_URL` or the config's
//! `redis.url`) the in-cluster flags and the kubectl flags pick nothing, and without one the
//! Sentinel flags have no Sentinel to ask. A value that only comes from the environment
//! (`REDIS_PASSWORD`, `REDIS_USERNAME`, `REDIS_SENTINEL_PASSWORD`) is ambient and not an error.

use shared::Error;
use shared::cli::GlobalArgs;

use crate::connect::RedisArgs;

/// True when `value` was given as a flag, not only through the environment variable `env`.
fn from_flag(value: Option<&str>, env: &str) -> bool {
    value.is_some_and(|v| std::env::var(env).ok().as_deref() != Some(v))
}

/// The kubectl flags given on the command line (they only matter for the port-forward).
fn kubectl_flags(global: &GlobalArgs) -> Vec<&'static str> {
    let c = &global.cluster;
    [
        (c.kubeconfig.is_some(), "--kubeconfig"),
        (!c.context.is_empty(), "--context"),
        (c.all_contexts, "--all-contexts"),
        (c.cluster.is_some(), "--cluster"),
        (c.user.is_some(), "--user"),
        (c.namespace.is_some(), "-n/--namespace"),
        (c.as_user.is_some(), "--as"),
        (!c.as_group.is_empty(), "--as-group"),
        (c.request_timeout.is_some(), "--request-timeout"),
        (c.insecure_skip_tls_verify, "--insecure-skip-tls-verify"),
    ]
    .into_iter()
    .filter_map(|(given, flag)| given.then_some(flag))
    .collect()
}

/// Checks the flags against the way Redis is reached: `url_source` names where the URL in use
/// came from (`None`: the port-forward to `--target`).
pub fn check(global: &GlobalArgs, args: &RedisArgs, url_source: Option<&str>) -> Result<(), Error> {
    if from_flag(args.sentinel_password.as_deref(), "REDIS_SENTINEL_PASSWORD")
        && args.sentinel_master.is_none()
    {
        return Err(Error::Usage {
            message: "--sentinel-password is for a Sentinel, and no --sentinel-master was given"
                .into(),
            hint: Some(
                "add --sentinel-master NAME with the Sentinel's URL, or drop --sentinel-password"
                    .into(),
            ),
        });
    }
    match url_source {
        Some(source) => {
            let mut unused: Vec<&str> = [
                (args.target.is_some(), "--target"),
                (args.redis_port.is_some(), "--redis-port"),
                (args.password_secret.is_some(), "--password-secret"),
                (
                    from_flag(args.redis_password.as_deref(), "REDIS_PASSWORD"),
                    "--redis-password",
                ),
                (
                    from_flag(args.redis_user.as_deref(), "REDIS_USERNAME"),
                    "--redis-user",
                ),
            ]
            .into_iter()
            .filter_map(|(given, flag)| given.then_some(flag))
            .collect();
            unused.extend(kubectl_flags(global));
            if unused.is_empty() {
                return Ok(());
            }
            Err(Error::Usage {
                message: format!(
                    "{} would not be used: Redis is reached at the URL from {source}, not through a port-forward",
                    unused.join(", ")
                ),
                hint: Some(
                    "put credentials in the URL (redis://USER:PASSWORD@HOST:PORT); or, to port-forward to --target, drop --redis-url and unset REDIS_URL".into(),
                ),
            })
        }
        None => {
            if args.sentinel_master.is_some() {
                return Err(Error::Usage {
                    message: "--sentinel-master needs the Sentinel's address, and no URL was given (the port-forward reaches Redis itself, not a Sentinel)".into(),
                    hint: Some("add --redis-url redis://SENTINEL_HOST:26379, or drop --sentinel-master".into()),
                });
            }
            if args.password_secret.is_some()
                && from_flag(args.redis_password.as_deref(), "REDIS_PASSWORD")
            {
                return Err(Error::Usage {
                    message:
                        "--redis-password would not be used: --password-secret gives the password"
                            .into(),
                    hint: Some("give one of --password-secret and --redis-password".into()),
                });
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(r: Result<(), Error>) -> String {
        match r {
            Err(Error::Usage { message, .. }) => message,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn a_url_leaves_no_room_for_in_cluster_flags() {
        let global = GlobalArgs::default();
        let mut args = RedisArgs {
            target: Some("svc/other".into()),
            ..RedisArgs::default()
        };
        let m = message(check(&global, &args, Some("REDIS_URL")));
        assert!(m.contains("--target") && m.contains("REDIS_URL"), "{m}");
        args.target = None;
        assert!(check(&global, &args, Some("REDIS_URL")).is_ok());
        let mut global = GlobalArgs::default();
        global.cluster.namespace = Some("prod".into());
        assert!(message(check(&global, &args, Some("--redis-url"))).contains("-n/--namespace"));
        assert!(
            check(&global, &args, None).is_ok(),
            "the port-forward uses -n"
        );
    }

    #[test]
    fn sentinel_flags_need_a_sentinel() {
        let global = GlobalArgs::default();
        let args = RedisArgs {
            sentinel_master: Some("mymaster".into()),
            ..RedisArgs::default()
        };
        assert!(message(check(&global, &args, None)).contains("--sentinel-master"));
        assert!(check(&global, &args, Some("--redis-url")).is_ok());
    }
}
