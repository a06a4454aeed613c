//! `kubectl rflush analyze` and `kubectl rflush stats --watch` against a real `redis-server`
//! (and a local 3-primary Redis Cluster): known key populations, exact figures with `--full`,
//! sampled estimates inside the bound they state, suggestions that work as configuration,
//! and the watch's per-interval deltas driven by lookups made while it runs.

use std::io::{BufRead, BufReader};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use kubectl_ops_tests::plugin;
use serde_json::Value;

use crate::rflush::{LocalCluster, RedisServer, json, populate, rflush, seed_cluster, text};

/// `SET PREFIX:i v EX ttl` for `n` keys, pipelined.
fn set_with_ttl(c: &mut redis::Connection, prefix: &str, n: u64, ttl: u64) {
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.cmd("SET")
            .arg(format!("{prefix}{i}"))
            .arg("value-0123456789")
            .arg("EX")
            .arg(ttl)
            .ignore();
    }
    let _: () = pipe.query(c).unwrap();
}

/// The standard population: 4,000 `market:data:` (a cache type, no TTL), 1,500 `session:`
/// (a cache type, 1 h TTL), 2,500 `legacy:feed:` (no cache type, no TTL).
fn seed(c: &mut redis::Connection) {
    populate(c, 4000, "market:data");
    set_with_ttl(c, "session:", 1500, 3600);
    populate(c, 2500, "legacy:feed");
}

fn prefix<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["prefixes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["prefix"] == name)
        .unwrap_or_else(|| panic!("no prefix {name:?} in {report:#}"))
}

fn group<'a>(report: &'a Value, list: &str, name: &str) -> &'a Value {
    report[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no {list} entry {name:?} in {report:#}"))
}

/// Sum of `MEMORY USAGE` over the keys matching `pattern`, as a client sees it.
fn memory_of(c: &mut redis::Connection, pattern: &str) -> u64 {
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg(pattern).query(c).unwrap();
    let mut pipe = redis::pipe();
    for k in &keys {
        pipe.cmd("MEMORY").arg("USAGE").arg(k);
    }
    let sizes: Vec<u64> = pipe.query(c).unwrap();
    sizes.iter().sum()
}

#[test]
fn analyze_full_is_exact_and_its_suggestion_works_as_configuration() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    seed(&mut c);
    let out = rflush(&redis.url(), &["analyze", "--full", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let r = json(&out);
    assert_eq!(r["method"], "full");
    assert_eq!(r["total"]["keys"]["value"], 8000);
    assert!(r["total"]["keys"].get("bound").is_none(), "exact: no bound");
    let market = prefix(&r, "market:data:");
    assert_eq!(market["keys"]["value"], 4000);
    assert_eq!(market["cache_type"], "market-data");
    assert_eq!(
        market["memory"]["value"].as_u64().unwrap(),
        memory_of(&mut c, "market:data:*")
    );
    assert_eq!(prefix(&r, "market:")["keys"]["value"], 4000);
    let legacy = prefix(&r, "legacy:");
    assert_eq!(legacy["keys"]["value"], 2500);
    assert_eq!(legacy["no_ttl"]["value"], 2500);
    assert_eq!(legacy["cache_type"], Value::Null);
    assert_eq!(legacy["uncovered_share"], 1.0);
    let session = prefix(&r, "session:");
    assert_eq!(session["keys"]["value"], 1500);
    assert_eq!(session["no_ttl"]["value"], 0);
    assert_eq!(r["uncovered"]["keys"]["value"], 2500);
    assert_eq!(group(&r, "ttl", "no TTL")["keys"]["value"], 6500);
    assert_eq!(group(&r, "ttl", "< 1h")["keys"]["value"], 1500);
    assert_eq!(group(&r, "data_types", "string")["keys"]["value"], 8000);
    assert_eq!(
        group(&r, "cache_types", "user-sessions")["keys"]["value"],
        1500
    );
    // One suggestion, for the uncovered prefix only.
    let suggestions = r["suggestions"].as_array().unwrap();
    assert_eq!(suggestions.len(), 1, "{r:#}");
    assert_eq!(suggestions[0]["name"], "legacy");
    assert_eq!(suggestions[0]["pattern"], "legacy:*");

    // Pasted into an override file, the suggested block makes `legacy` a cache type that
    // covers exactly those keys, and the configured ones still work.
    let config = redis.dir.path().join("config.yaml");
    std::fs::write(&config, r["suggested_config"].as_str().unwrap()).unwrap();
    let cfg = config.to_str().unwrap();
    let out = rflush(
        &redis.url(),
        &["--config", cfg, "count", "legacy", "-o", "json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["keys"], 2500);
    let out = rflush(
        &redis.url(),
        &["--config", cfg, "count", "market-data", "-o", "json"],
    );
    assert_eq!(json(&out)["keys"], 4000, "{}", text(&out));
    // Analysed again with it, nothing is left uncovered.
    let out = rflush(
        &redis.url(),
        &[
            "--config",
            cfg,
            "analyze",
            "--full",
            "--no-pacing",
            "-o",
            "json",
        ],
    );
    let again = json(&out);
    assert_eq!(again["uncovered"]["keys"]["value"], 0, "{again:#}");
    assert_eq!(again["suggestions"].as_array().unwrap().len(), 0);

    // The text report shows the tree, the uncovered prefix and the block to paste.
    let out = rflush(&redis.url(), &["analyze", "--full"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        shown.contains("every key (SCAN, 8,000 inspected)")
            && shown.contains("  market:data:")
            && shown.contains("- (none)")
            && shown.contains("  # new: prefixes no cache type covered\n  - name: \"legacy\"\n    pattern: \"legacy:*\""),
        "{shown}"
    );

    // A cache type or a pattern narrows the analysis.
    let out = rflush(
        &redis.url(),
        &[
            "analyze",
            "--full",
            "--no-pacing",
            "-p",
            "legacy:*",
            "-o",
            "json",
        ],
    );
    assert_eq!(json(&out)["total"]["keys"]["value"], 2500, "{}", text(&out));
    let out = rflush(
        &redis.url(),
        &[
            "analyze",
            "user-sessions",
            "--full",
            "--no-pacing",
            "-o",
            "json",
        ],
    );
    let r = json(&out);
    assert_eq!(r["pattern"], "session:*");
    assert_eq!(r["total"]["keys"]["value"], 1500);
}

/// Every sampled estimate must lie within the bound the report states. At `--confidence
/// 99.9` a single check fails by chance once in a thousand runs; the bounds are also checked
/// to be no wider than the binomial theory allows, so a uselessly wide bound fails too.
#[test]
fn analyze_sample_estimates_fall_within_the_stated_bound() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    populate(&mut c, 20_000, "market:data");
    populate(&mut c, 12_000, "legacy:feed");
    set_with_ttl(&mut c, "session:", 8000, 3600);
    let n = 4000.0;
    let out = rflush(
        &redis.url(),
        &[
            "analyze",
            "--no-pacing",
            "--sample",
            "4000",
            "--confidence",
            "99.9",
            "-o",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let r = json(&out);
    assert_eq!(r["method"], "sample");
    assert_eq!(r["inspected"], 4000);
    assert_eq!(r["dbsize"], 40_000);
    assert_eq!(r["confidence"], 0.999);
    assert_eq!(r["total"]["keys"]["value"], 40_000);
    let full = json(&rflush(
        &redis.url(),
        &["analyze", "--full", "--no-pacing", "-o", "json"],
    ));
    for (name, truth) in [
        ("market:data:", 20_000.0),
        ("legacy:", 12_000.0),
        ("session:", 8000.0),
    ] {
        let p = prefix(&r, name);
        let (est, bound) = (
            p["keys"]["value"].as_f64().unwrap(),
            p["keys"]["bound"].as_f64().unwrap(),
        );
        assert!(
            (est - truth).abs() <= bound,
            "{name}: {est} ± {bound} misses {truth}"
        );
        let share: f64 = truth / 40_000.0;
        let theory = 3.2905 * 40_000.0 * (share * (1.0 - share) / n).sqrt();
        assert!(
            bound > 0.8 * theory && bound < 1.2 * theory,
            "{name}: bound {bound} vs {theory}"
        );
        let true_bytes = prefix(&full, name)["memory"]["value"].as_f64().unwrap();
        let (mem, mem_bound) = (
            p["memory"]["value"].as_f64().unwrap(),
            p["memory"]["bound"].as_f64().unwrap(),
        );
        // Keys of one prefix are all the same size b here: the memory bound is b × the count's.
        let per_key = true_bytes / truth;
        assert!(
            (mem - true_bytes).abs() <= mem_bound && mem_bound < 1.2 * per_key * theory,
            "{name}: memory {mem} ± {mem_bound} vs {true_bytes}"
        );
    }
    let legacy = prefix(&r, "legacy:");
    assert_eq!(legacy["cache_type"], Value::Null);
    assert_eq!(r["suggestions"][0]["pattern"], "legacy:*", "{r:#}");
    let session = prefix(&r, "session:");
    assert_eq!(session["no_ttl"]["value"], 0);

    // The text form says they are estimates and how good.
    let out = rflush(&redis.url(), &["analyze", "--sample", "2000"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("2,000 random keys (RANDOMKEY) of 40,000")
            && shown.contains("95% confidence bound")
            && shown.contains("may be missing")
            && shown.contains(" ±"),
        "{shown}"
    );
    // A sample as big as the database reads every key instead, exactly.
    let out = rflush(
        &redis.url(),
        &["analyze", "--sample", "50000", "--no-pacing", "-o", "json"],
    );
    let r = json(&out);
    assert_eq!(r["method"], "full");
    assert_eq!(prefix(&r, "legacy:")["keys"]["value"], 12_000);
}

#[test]
fn analyze_and_watch_on_a_cluster_cover_every_primary() {
    let cluster = LocalCluster::start();
    let url = cluster.nodes[0].url();
    let mut script = String::new();
    for i in 0..3000 {
        script.push_str(&format!("SET market:data:{i} v\n"));
    }
    for i in 0..1000 {
        script.push_str(&format!("SET legacy:feed:{i} v\n"));
    }
    seed_cluster(&cluster, &script);
    let out = rflush(&url, &["analyze", "--full", "--no-pacing", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let r = json(&out);
    assert_eq!(r["nodes"], 3);
    assert_eq!(prefix(&r, "market:data:")["keys"]["value"], 3000);
    assert_eq!(prefix(&r, "legacy:")["keys"]["value"], 1000);
    assert_eq!(r["suggestions"][0]["pattern"], "legacy:*");

    let out = rflush(
        &url,
        &[
            "analyze",
            "--no-pacing",
            "--sample",
            "2000",
            "--confidence",
            "99.9",
            "-o",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let r = json(&out);
    assert_eq!(r["method"], "sample");
    assert_eq!(r["inspected"], 2000);
    let legacy = prefix(&r, "legacy:");
    let (est, bound) = (
        legacy["keys"]["value"].as_f64().unwrap(),
        legacy["keys"]["bound"].as_f64().unwrap(),
    );
    assert!((est - 1000.0).abs() <= bound, "{est} ± {bound}");

    // The watch sums the primaries.
    let out = rflush(
        &url,
        &[
            "stats",
            "--watch",
            "--interval",
            "200ms",
            "--count",
            "1",
            "-o",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["keys"], 4000);
    assert_eq!(line["keys_method"], "exact");
    assert_eq!(line["cache_types"][0]["name"], "market-data");
    assert_eq!(line["cache_types"][0]["keys"], 3000);
}

/// `stats --watch` in the background, its stdout read line by line.
struct Watch {
    child: std::process::Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Watch {
    fn start(url: &str, args: &[&str]) -> Watch {
        let mut child = plugin("kubectl-rflush")
            .env("REDIS_URL", url)
            .args(["stats", "--watch"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl-rflush");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Watch { child, lines }
    }

    fn next(&mut self) -> Option<String> {
        self.lines.next().map(|l| l.unwrap())
    }

    fn wait(mut self) -> Output {
        let rest: Vec<String> = self.lines.by_ref().map(|l| l.unwrap()).collect();
        assert!(rest.is_empty(), "unexpected extra output: {rest:?}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut stderr = Vec::new();
                if let Some(mut e) = self.child.stderr.take() {
                    std::io::Read::read_to_end(&mut e, &mut stderr).unwrap();
                }
                return Output {
                    status,
                    stdout: Vec::new(),
                    stderr,
                };
            }
            assert!(Instant::now() < deadline, "the watch did not end");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_json_lines_show_the_hit_rate_of_each_interval() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    seed(&mut c);
    // Opened before the watch starts, so its handshake is not in any interval.
    let mut lookups = redis.conn();
    let mut w = Watch::start(
        &redis.url(),
        &["--interval", "700ms", "--count", "3", "-o", "json"],
    );
    let first: Value = serde_json::from_str(&w.next().expect("first interval")).unwrap();
    assert_eq!(first["hit_rate"], Value::Null, "no lookups yet: {first}");
    assert_eq!(
        (first["hits"].as_u64(), first["misses"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        first["ops_per_sec"], 0.0,
        "its own commands are not counted"
    );
    assert_eq!(first["keys"], 8000);
    assert_eq!(first["keys_method"], "exact");
    let market = &first["cache_types"][0];
    assert_eq!(
        (market["name"].as_str(), market["keys"].as_u64()),
        (Some("market-data"), Some(4000))
    );

    // 30 hits and 10 misses in one transaction: they land in one interval, whichever.
    let mut tx = redis::pipe();
    tx.atomic();
    for i in 0..30 {
        tx.cmd("GET").arg(format!("market:data:{i}")).ignore();
    }
    for i in 0..10 {
        tx.cmd("GET").arg(format!("missing:{i}")).ignore();
    }
    let _: () = tx.query(&mut lookups).unwrap();

    let rest: Vec<Value> = (0..2)
        .map(|_| serde_json::from_str(&w.next().expect("an interval")).unwrap())
        .collect();
    let out = w.wait();
    assert!(out.status.success(), "{}", text(&out));
    let (busy, idle): (Vec<&Value>, Vec<&Value>) =
        rest.iter().partition(|l| l["hits"].as_u64() != Some(0));
    assert_eq!((busy.len(), idle.len()), (1, 1), "{rest:?}");
    let busy = busy[0];
    assert_eq!(
        (busy["hits"].as_u64(), busy["misses"].as_u64()),
        (Some(30), Some(10))
    );
    assert_eq!(busy["hit_rate"], 0.75);
    // MULTI, 40 GETs, EXEC.
    let commands = busy["ops_per_sec"].as_f64().unwrap() * busy["seconds"].as_f64().unwrap();
    assert!((commands - 42.0).abs() < 0.01, "{busy}");
    assert_eq!(idle[0]["hit_rate"], Value::Null);
    assert_eq!(idle[0]["misses"], 0);
}

#[test]
fn watch_prints_one_plain_line_per_interval_off_a_terminal() {
    let redis = RedisServer::start(&[]);
    seed(&mut redis.conn());
    let out = rflush(
        &redis.url(),
        &["stats", "-w", "--interval", "200ms", "--count", "2"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for l in &lines {
        assert!(
            l.contains("hit rate n/a (0 hits, 0 misses)")
                && l.contains("keys 8,000 (+0)")
                && l.contains("market-data 4,000")
                && l.contains("user-sessions 1,500"),
            "{l}"
        );
    }
    assert!(!stdout.contains('\x1b'), "no terminal escapes in a pipe");
}

#[test]
fn watch_estimates_keys_per_type_on_a_big_keyspace() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    populate(&mut c, 45_000, "market:data");
    populate(&mut c, 15_000, "legacy:feed");
    let out = rflush(
        &redis.url(),
        &[
            "stats",
            "-w",
            "--interval",
            "200ms",
            "--count",
            "1",
            "-o",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["keys_method"], "sampled");
    assert_eq!(line["sampled_keys"], 2000);
    let market = &line["cache_types"][0];
    let (est, bound) = (
        market["keys"].as_f64().unwrap(),
        market["bound"].as_f64().unwrap(),
    );
    // The bound is at 95%: twice it (≈3.9 σ) is missed once in ten thousand runs.
    assert!((est - 45_000.0).abs() <= 2.0 * bound, "{est} ± {bound}");
    assert!(bound > 500.0 && bound < 2000.0, "{bound}");
}

#[test]
fn watch_on_a_terminal_redraws_in_place_and_ctrl_c_ends_it() {
    use expectrl::{ControlCode, Expect as _};
    let redis = RedisServer::start(&[]);
    seed(&mut redis.conn());
    let mut cmd = plugin("kubectl-rflush");
    cmd.env("REDIS_URL", redis.url())
        .env("TERM", "xterm")
        .args(["stats", "--watch", "--interval", "300ms"]);
    let mut p = expectrl::Session::spawn(cmd).expect("spawn in a pty");
    p.set_expect_timeout(Some(Duration::from_secs(30)));
    p.expect("measuring the first 300ms interval").unwrap();
    p.expect("Hit rate   n/a").unwrap();
    // The next frame moves back over the last one and clears it: CSI n F, CSI J.
    let redrawn = p.expect(expectrl::Regex("\x1b\\[\\d+F\x1b\\[J")).unwrap();
    assert!(!redrawn.is_empty());
    p.expect("market-data").unwrap();
    p.send(ControlCode::EndOfText).unwrap();
    let status = p.get_process().wait().unwrap();
    assert!(
        matches!(status, expectrl::process::unix::WaitStatus::Exited(_, 0)),
        "Ctrl-C ends the watch with exit 0: {status:?}"
    );
}

#[test]
fn bad_watch_and_analyze_input_is_a_usage_error() {
    let redis = RedisServer::start(&[]);
    for args in [
        &["analyze", "--sample", "0"][..],
        &["analyze", "--sample", "10", "--full"],
        &["analyze", "--depth", "0"],
        &["analyze", "--confidence", "42"],
        &["analyze", "market-data", "-p", "x:*"],
        &["stats", "--watch", "--interval", "0"],
        &["stats", "--watch", "--interval", "soon"],
        &["stats", "--watch", "--count", "0"],
        &["stats", "--count", "2"],
        &["stats", "--watch", "--samples", "50"],
        &["analyze", "--full", "--confidence", "99"],
        &["analyze", "--no-pacing", "--max-latency", "5ms"],
    ] {
        let out = rflush(&redis.url(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = rflush(&redis.url(), &["analyze", "-p", "a[b"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint:"));
}

/// Splits a POSIX shell command line of plain words and '...' quoted parts (what the plugin's
/// hints print).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut started) = (false, false);
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                started = true;
            }
            ' ' if !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            _ => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

/// The `stats --watch` command `flush` prints afterwards runs, for a type and for `-p`.
#[test]
fn the_watch_command_flush_prints_works() {
    let redis = RedisServer::start(&[]);
    seed(&mut redis.conn());
    for (flush, pattern, left) in [
        (&["flush", "market-data"][..], "market:data:*", 0),
        (&["flush", "-p", "legacy:feed:*"], "legacy:feed:*", 0),
    ] {
        let out = rflush(
            &redis.url(),
            &[flush, &["--yes", "--no-backup", "--no-pacing"]].concat(),
        );
        assert!(out.status.success(), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let hint = stderr
            .lines()
            .find_map(|l| l.split_once(": kubectl rflush ").map(|(_, cmd)| cmd))
            .unwrap_or_else(|| panic!("no watch command in {stderr}"));
        let mut args = shell_words(hint);
        assert_eq!(&args[..2], ["stats", "--watch"], "{hint}");
        args.extend(["--count", "1", "--interval", "200ms", "-o", "json"].map(String::from));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = rflush(&redis.url(), &args);
        assert!(out.status.success(), "{hint}: {}", text(&out));
        let line: Value = serde_json::from_slice(&out.stdout).unwrap();
        let row = &line["cache_types"][0];
        assert_eq!(row["pattern"], pattern, "{line}");
        assert_eq!(row["keys"], left, "{line}");
        assert_eq!(line["cache_types"].as_array().unwrap().len(), 1, "{line}");
    }
}
