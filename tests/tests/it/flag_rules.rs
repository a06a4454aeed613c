//! One command-line grammar, and no flag silently ignored (issue 12, items 4 and 5): flags a
//! mode would not use are usage errors (exit 2) naming the flag; every rflush command that
//! selects keys takes `TYPE` or `-p PATTERN`; `--help` lists the command's options first and
//! the kubectl flags under their own heading. Real binaries; real redis-server for rflush.

use std::process::{Output, Stdio};

use kubectl_ops_tests::plugin;

use crate::rflush::{RedisServer, json, rflush, text};

const PLUGINS: [&str; 3] = ["certs", "rflush", "debugpod"];

/// Runs `kubectl-NAME ARGS` with no cluster, no Redis URL and stdin closed.
fn run(name: &str, args: &[&str]) -> Output {
    plugin(&format!("kubectl-{name}"))
        .env_remove("REDIS_URL")
        .env_remove("KUBECONFIG")
        .env("HOME", "/nonexistent-kubectl-ops-test-home")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run plugin")
}

/// Asserts a usage error: exit 2, nothing on stdout, and stderr naming every one of `names`.
#[track_caller]
fn assert_usage_error(out: &Output, names: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", text(out));
    assert!(out.stdout.is_empty(), "{}", text(out));
    assert!(err.starts_with("error:"), "{err}");
    for n in names {
        assert!(err.contains(n), "stderr does not name {n}: {err}");
    }
}

#[test]
fn config_view_takes_only_yaml_or_json() {
    for name in PLUGINS {
        for format in ["name", "table", "wide"] {
            let out = run(name, &["config", "view", "-o", format]);
            assert_usage_error(&out, &["--output", format]);
        }
        let out = run(name, &["config", "view", "-o", "json"]);
        assert!(out.status.success(), "{}", text(&out));
    }
    // `--defaults -o json` was the commented YAML whatever -o said; now it is JSON.
    let out = run("rflush", &["config", "view", "--defaults", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["redis"]["target"], "statefulset/redis");
}

#[test]
fn summary_commands_refuse_table_formats_they_do_not_print() {
    for (name, args) in [
        ("rflush", vec!["count", "market-data", "-o", "name"]),
        ("rflush", vec!["flush", "market-data", "-o", "wide"]),
        ("rflush", vec!["backup", "market-data", "-o", "name"]),
        ("rflush", vec!["restore", "x.rfb", "-o", "wide"]),
        ("rflush", vec!["stats", "-o", "name"]),
        ("certs", vec!["check", "-o", "name"]),
        ("certs", vec!["validate", "api-gateway", "-o", "wide"]),
        ("certs", vec!["rotate", "api-gateway", "-o", "name"]),
    ] {
        let out = run(name, &args);
        assert_usage_error(&out, &["--output"]);
    }
}

/// The sections of a `--help` text: heading (`Options`, `Global options`, ...) → its lines.
fn sections(help: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        if !line.starts_with(' ') && line.ends_with(':') && !line.contains("Usage") {
            out.push((line.trim_end_matches(':').to_string(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// True when `body` (a help section) defines `flag`: a line starting with it, or with a short
/// flag and then it (`-n, --namespace`); not a mere mention in another flag's text.
fn defines(body: &str, flag: &str) -> bool {
    body.lines().map(str::trim_start).any(|l| {
        l.starts_with(flag)
            || (l.starts_with('-') && l.get(4..).is_some_and(|r| r.starts_with(flag)))
    })
}

/// The subcommands listed by `kubectl-NAME --help`.
fn subcommands(name: &str) -> Vec<String> {
    let help = String::from_utf8(run(name, &["--help"]).stdout).unwrap();
    let (_, body) = sections(&help)
        .into_iter()
        .find(|(h, _)| h == "Commands")
        .expect("a Commands section");
    body.lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn help_lists_command_options_first_and_kubectl_flags_under_their_own_heading() {
    for name in PLUGINS {
        let commands = subcommands(name);
        assert!(commands.len() >= 7, "{name}: {commands:?}");
        for command in commands.iter().map(String::as_str).chain([""]) {
            let args: Vec<&str> = [command, "--help"]
                .into_iter()
                .filter(|a| !a.is_empty())
                .collect();
            let out = run(name, &args);
            assert!(out.status.success(), "{name} {command}: {}", text(&out));
            let help = String::from_utf8(out.stdout).unwrap();
            let s = sections(&help);
            let heading = |h: &str| s.iter().position(|(x, _)| x == h);
            let options = heading("Options").unwrap_or_else(|| panic!("{name} {command}: {help}"));
            let global = heading("Global options")
                .unwrap_or_else(|| panic!("{name} {command} has no Global options: {help}"));
            assert!(options < global, "{name} {command}: {help}");
            assert_eq!(
                global,
                s.len() - 1,
                "{name} {command}: kubectl flags last: {help}"
            );
            for flag in [
                "--kubeconfig",
                "--context",
                "--namespace",
                "--as <USER>",
                "--request-timeout",
                "--config",
            ] {
                assert!(
                    defines(&s[global].1, flag),
                    "{name} {command}: {flag}: {help}"
                );
                assert!(
                    !defines(&s[options].1, flag),
                    "{name} {command}: {flag} among the command's options: {help}"
                );
            }
            if name == "rflush" {
                let redis = heading("Redis options").expect("Redis options");
                assert!(options < redis && redis < global, "{command}: {help}");
                assert!(defines(&s[redis].1, "--redis-url"), "{help}");
            }
        }
    }
    // The usage line still reads as the kubectl plugin.
    let help = String::from_utf8(run("certs", &["check", "--help"]).stdout).unwrap();
    assert!(
        help.contains("Usage: kubectl certs check [OPTIONS] [NAMES]..."),
        "{help}"
    );
}

#[test]
fn debugpod_flags_a_mode_would_ignore_are_usage_errors() {
    for (args, names) in [
        (
            vec!["create", "t", "--mode", "ephemeral", "--share-netns"],
            vec!["--share-netns", "--mode ephemeral"],
        ),
        (
            vec!["create", "t", "--mode", "ephemeral", "--cpu-limit", "1"],
            vec!["--cpu-limit", "--mode ephemeral"],
        ),
        (
            vec![
                "create",
                "t",
                "--mode",
                "ephemeral",
                "--memory-limit",
                "1Gi",
            ],
            vec!["--memory-limit", "--mode ephemeral"],
        ),
        (vec!["create", "t", "-c", "app"], vec!["-c/--container"]),
        (
            vec!["exec", "t", "-o", "json", "--", "true"],
            vec!["--output", "CMD"],
        ),
        (
            vec!["report", "t", "--no-presets", "--image", "x"],
            vec!["--no-presets", "--image"],
        ),
        (vec!["report", "t", "--share-netns"], vec!["--share-netns"]),
        (
            vec!["capture", "t", "--share-netns"],
            vec!["--share-netns", "--keep"],
        ),
        (
            vec!["exec", "t", "network", "--share-netns"],
            vec!["--share-netns", "--keep"],
        ),
        (vec!["cleanup", "--all", "abc123"], vec!["--all"]),
        (
            vec!["cleanup", "--all", "--expired"],
            vec!["--all", "--expired"],
        ),
    ] {
        let out = run("debugpod", &args);
        assert_usage_error(&out, &names);
    }
}

#[test]
fn certs_check_refuses_a_selector_with_names() {
    let out = run("certs", &["check", "api-gateway", "-l", "app=x"]);
    assert_usage_error(&out, &["--selector", "[NAMES]"]);
}

#[test]
fn certs_check_refuses_chunk_size_with_names() {
    // Names are looked up on their own: a page size would do nothing there.
    let out = run("certs", &["check", "api-gateway", "--chunk-size", "10"]);
    assert_usage_error(&out, &["--chunk-size"]);
}

fn populate(c: &mut redis::Connection, prefix: &str, n: u64) {
    let _: () = redis::cmd("DEBUG")
        .arg("POPULATE")
        .arg(n)
        .arg(prefix)
        .query(c)
        .unwrap();
}

fn keys(c: &mut redis::Connection, pattern: &str) -> Vec<Vec<u8>> {
    let mut k: Vec<Vec<u8>> = redis::cmd("KEYS").arg(pattern).query(c).unwrap();
    k.sort();
    k
}

#[test]
fn rflush_count_backup_stats_take_a_type_or_dash_p_and_select_the_same_keys() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    populate(&mut c, "market:data:", 700);
    populate(&mut c, "market:datax", 50);
    populate(&mut c, "news:data:", 30);
    let url = redis.url();
    // count: TYPE, a glob as TYPE (as before), -p and --pattern agree.
    for args in [
        vec!["count", "market-data"],
        vec!["count", "market:data:*"],
        vec!["count", "-p", "market:data:*"],
        vec!["count", "--pattern", "market:data:*"],
    ] {
        let out = rflush(&url, &[args.as_slice(), &["-o", "json"]].concat());
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert_eq!(json(&out)["keys"], 700, "{args:?}");
        assert_eq!(json(&out)["pattern"], "market:data:*", "{args:?}");
    }
    // backup: `--pattern` (a usage error before) and the type write the same keys.
    let by_type = redis.dir.path().join("type.rfb");
    let by_pattern = redis.dir.path().join("pattern.rfb");
    for (args, file) in [
        (vec!["backup", "market-data", "-f"], &by_type),
        (
            vec!["backup", "--pattern", "market:data:*", "--backup-file"],
            &by_pattern,
        ),
    ] {
        let out = rflush(
            &url,
            &[args.as_slice(), &[file.to_str().unwrap(), "-o", "json"]].concat(),
        );
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert_eq!(json(&out)["keys"], 700, "{args:?}");
    }
    let restored: Vec<Vec<Vec<u8>>> = [&by_type, &by_pattern]
        .iter()
        .map(|file| {
            let target = RedisServer::start(&[]);
            let out = rflush(&target.url(), &["restore", file.to_str().unwrap()]);
            assert!(out.status.success(), "{}", text(&out));
            keys(&mut target.conn(), "*")
        })
        .collect();
    assert_eq!(restored[0], keys(&mut c, "market:data:*"));
    assert_eq!(restored[0], restored[1]);
    // stats: -p reports a pattern beside (instead of) the cache types.
    let out = rflush(
        &url,
        &[
            "stats",
            "-p",
            "news:data:*",
            "-p",
            "market:datax*",
            "-o",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let rows = json(&out)["cache_types"].clone();
    assert_eq!(rows.as_array().unwrap().len(), 2, "{rows}");
    assert_eq!(rows[0]["pattern"], "news:data:*");
    assert_eq!(rows[0]["keys"], 30);
    assert_eq!(rows[1]["keys"], 50);
    // TYPE and -p together, or neither, are usage errors; so is a pattern as flush's TYPE.
    for (args, names) in [
        (vec!["count", "market-data", "-p", "x:*"], vec!["--pattern"]),
        (vec!["backup"], vec!["TYPE", "--pattern"]),
        (vec!["stats", "news-data", "-p", "x:*"], vec!["--pattern"]),
        (
            vec!["flush", "market:data:*", "--yes"],
            vec!["-p", "market:data:*"],
        ),
    ] {
        let out = rflush(&url, &args);
        assert_usage_error(&out, &names);
    }
    assert_eq!(
        keys(&mut c, "market:data:*").len(),
        700,
        "nothing was flushed"
    );
}

#[test]
fn rflush_flags_the_flush_would_ignore_are_usage_errors() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    populate(&mut c, "news:data:", 20);
    let url = redis.url();
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("cp.json");
    std::fs::write(
        &checkpoint,
        serde_json::json!({"kind": "kubectl-rflush-checkpoint/v1", "pattern": "news:data:*",
            "cache_type": "news-data", "backup_file": null, "address": url, "deleted": 0, "nodes": []})
        .to_string(),
    )
    .unwrap();
    let cp = checkpoint.to_str().unwrap();
    for (args, names) in [
        (
            vec![
                "flush",
                "news-data",
                "--yes",
                "--no-pacing",
                "--max-latency",
                "5ms",
            ],
            vec!["--max-latency", "--no-pacing"],
        ),
        (
            vec!["flush", "news-data", "--flush-everything"],
            vec!["--flush-everything", "--yes"],
        ),
        // --resume continues what its checkpoint says: a different TYPE or backup is refused.
        (
            vec!["flush", "market-data", "--resume", cp, "--yes"],
            vec!["TYPE market-data", "news-data"],
        ),
        (
            vec!["flush", "-p", "x:*", "--resume", cp, "--yes"],
            vec!["-p", "news:data:*"],
        ),
        (
            vec!["flush", "--resume", cp, "--yes", "-f", "other.rfb"],
            vec!["--backup-file other.rfb", "no backup"],
        ),
    ] {
        let out = rflush(&url, &args);
        assert_usage_error(&out, &names);
    }
    assert_eq!(keys(&mut c, "news:data:*").len(), 20, "nothing was flushed");
    // The same TYPE as the checkpoint's (what the printed resume command repeats) is fine.
    let out = rflush(
        &url,
        &["flush", "news-data", "--resume", cp, "--yes", "-o", "json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["deleted"], 20);
}

#[test]
fn rflush_backup_file_backs_up_a_type_that_says_backup_false() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    populate(&mut c, "rate:limit:", 40);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "cache_types:\n  - { name: rate-limits, pattern: \"rate:limit:*\", backup: false, description: Rate limiting cache }\n",
    )
    .unwrap();
    let file = dir.path().join("rl.rfb");
    let out = rflush(
        &redis.url(),
        &[
            "--config",
            config.to_str().unwrap(),
            "flush",
            "rate-limits",
            "--yes",
            "-f",
            file.to_str().unwrap(),
            "-o",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["deleted"], 40);
    assert_eq!(json(&out)["backed_up"], 40, "{}", text(&out));
    let out = rflush(
        &redis.url(),
        &["restore", file.to_str().unwrap(), "-o", "json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(keys(&mut c, "rate:limit:*").len(), 40);
}

#[test]
fn rflush_connection_flags_the_chosen_way_would_not_use_are_usage_errors() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    populate(&mut c, "news:data:", 5);
    // REDIS_URL in the environment: --target, -n or --password-secret would pick nothing.
    for (args, names) in [
        (
            vec!["count", "news-data", "--target", "svc/other-redis"],
            vec!["--target", "REDIS_URL"],
        ),
        (
            vec!["-n", "prod", "count", "news-data"],
            vec!["-n/--namespace", "REDIS_URL"],
        ),
        (
            vec!["flush", "news-data", "--yes", "--password-secret", "redis"],
            vec!["--password-secret"],
        ),
        (
            vec!["count", "news-data", "--sentinel-password", "pw"],
            vec!["--sentinel-password", "--sentinel-master"],
        ),
    ] {
        let out = rflush(&redis.url(), &args);
        assert_usage_error(&out, &names);
    }
    let out = rflush(
        "",
        &[
            "count",
            "news-data",
            "--redis-url",
            &redis.url(),
            "--context",
            "prod",
        ],
    );
    assert_usage_error(&out, &["--context", "--redis-url"]);
    // No URL: --sentinel-master has no Sentinel to ask.
    let out = run(
        "rflush",
        &["count", "news-data", "--sentinel-master", "cache"],
    );
    assert_usage_error(&out, &["--sentinel-master"]);
    assert_eq!(keys(&mut c, "news:data:*").len(), 5);
}
