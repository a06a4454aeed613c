//! End-to-end tests of `kubectl rflush analyze` and `stats --watch` against the sandbox: the
//! in-cluster `redis-0` through the plugin's own port-forward as the least-privilege user
//! `kubectl-ops-rflush`, and the sandbox's Redis Cluster (3 primaries) by URL. Only reads:
//! the seeded key counts (`seed.json`) are the oracle.

use anyhow::{Context as _, Result, ensure};
use kubectl_ops_tests::fixtures::unique;
use kubectl_ops_tests::sandbox::{Sandbox, User};
use serde_json::Value;

use crate::rflush_e2e::{
    Cleanup, PodRedis, bind_rflush_role, ok_json, rflush_as, rflush_url, seeded_types, text,
};

fn find<'a>(list: &'a Value, key: &str, name: &str) -> Result<&'a Value> {
    list.as_array()
        .context("a list")?
        .iter()
        .find(|v| v[key] == name)
        .with_context(|| format!("no {key} {name:?} in {list}"))
}

/// Every seeded cache type has exactly its seeded keys in an exact (`--full`) analysis.
fn check_exact_types(report: &Value, types: &[(String, String, u64)]) -> Result<()> {
    for (name, pattern, seeded) in types {
        let row = find(&report["cache_types"], "name", name)?;
        ensure!(row["pattern"] == pattern.as_str(), "{row}");
        ensure!(
            row["keys"]["value"] == *seeded,
            "{name}: analyze found {} keys, seeded {seeded}",
            row["keys"]["value"]
        );
    }
    Ok(())
}

/// `stats --watch -o json` lines: well formed, and the keys per cache type as seeded.
fn check_watch_lines(stdout: &[u8], n: usize, types: &[(String, String, u64)]) -> Result<()> {
    let text = String::from_utf8_lossy(stdout);
    let lines: Vec<Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .with_context(|| format!("JSON Lines: {text}"))?;
    ensure!(lines.len() == n, "{n} intervals wanted: {text}");
    for line in &lines {
        let (hits, misses) = (
            line["hits"].as_u64().context("hits")?,
            line["misses"].as_u64().context("misses")?,
        );
        if hits + misses == 0 {
            ensure!(line["hit_rate"].is_null(), "{line}");
        } else {
            let rate = line["hit_rate"].as_f64().context("hit_rate")?;
            ensure!(
                (rate - hits as f64 / (hits + misses) as f64).abs() < 1e-9,
                "{line}"
            );
        }
        ensure!(
            line["keys_method"] == "exact",
            "a small Redis is counted: {line}"
        );
        for (name, _, seeded) in types {
            let t = find(&line["cache_types"], "name", name)?;
            ensure!(t["keys"] == *seeded, "{name}: {t}, seeded {seeded}");
        }
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn in_cluster_analyze_and_watch_through_the_port_forward() -> Result<()> {
    let sb = Sandbox::load()?;
    let admin = sb.client().await?;
    let ns = sb.namespace.clone();
    let dir = tempfile::tempdir()?;
    bind_rflush_role(&sb, &admin).await?;
    let types = seeded_types(&sb)?;
    let seed = sb.seed()?;

    // A prefix of our own that no cache type covers, without TTL: analyze must suggest it.
    let u = unique();
    let _cleanup = Cleanup {
        sb: sb.clone(),
        pattern: format!("leak{u}:*"),
        url: None,
    };
    let mut r = PodRedis::open(&admin, &ns).await?;
    let mut pipe = redis::pipe();
    for i in 0..300 {
        pipe.cmd("SET")
            .arg(format!("leak{u}:feed:{i}"))
            .arg("x")
            .ignore();
    }
    let () = pipe.query_async(&mut r.conn).await?;

    let out = rflush_as(
        &sb,
        User::Rflush,
        &ns,
        dir.path(),
        &["analyze", "--full", "-o", "json"],
    )?;
    let report = ok_json(&out)?;
    ensure!(
        report["address"]
            .as_str()
            .is_some_and(|a| a.contains("pod/redis-0:6379")),
        "{report}"
    );
    ensure!(report["method"] == "full", "{report}");
    check_exact_types(&report, &types)?;
    let mine = find(&report["prefixes"], "prefix", &format!("leak{u}:"))?;
    ensure!(
        mine["keys"]["value"] == 300 && mine["no_ttl"]["value"] == 300,
        "{mine}"
    );
    ensure!(mine["cache_type"].is_null(), "{mine}");
    let profiles = &seed.other["user:profile:*"];
    let user = find(&report["prefixes"], "prefix", "user:profile:")?;
    ensure!(user["keys"]["value"] == profiles.keys, "{user}");
    let suggested: Vec<&str> = report["suggestions"]
        .as_array()
        .context("suggestions")?
        .iter()
        .filter_map(|s| s["pattern"].as_str())
        .collect();
    let want = format!("leak{u}:*");
    ensure!(suggested.contains(&want.as_str()), "{suggested:?}");

    // Sampled through the tunnel: a bound on every figure.
    let out = rflush_as(
        &sb,
        User::Rflush,
        &ns,
        dir.path(),
        &["analyze", "--sample", "500", "-o", "json"],
    )?;
    let sampled = ok_json(&out)?;
    ensure!(
        sampled["method"] == "sample" && sampled["inspected"] == 500,
        "{}",
        text(&out)
    );
    let market = find(&sampled["cache_types"], "name", "market-data")?;
    ensure!(market["keys"]["bound"].as_u64().is_some(), "{market}");

    // The watch through the tunnel, as the same user.
    let out = rflush_as(
        &sb,
        User::Rflush,
        &ns,
        dir.path(),
        &[
            "stats",
            "--watch",
            "--interval",
            "1s",
            "--count",
            "2",
            "-o",
            "json",
        ],
    )?;
    ensure!(out.status.success(), "{}", text(&out));
    check_watch_lines(&out.stdout, 2, &types)?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn cluster_analyze_and_watch_sum_the_primaries() -> Result<()> {
    let sb = Sandbox::load()?;
    let types = seeded_types(&sb)?;
    let dir = tempfile::tempdir()?;
    let url = format!(
        "redis://{}",
        sb.redis_cluster_nodes.first().context("cluster nodes")?
    );
    let out = rflush_url(&url, dir.path(), &["analyze", "--full", "-o", "json"])?;
    let report = ok_json(&out)?;
    ensure!(report["nodes"] == 3, "three primaries: {}", report["nodes"]);
    check_exact_types(&report, &types)?;
    let out = rflush_url(
        &url,
        dir.path(),
        &[
            "stats",
            "--watch",
            "--interval",
            "500ms",
            "--count",
            "1",
            "-o",
            "json",
        ],
    )?;
    ensure!(out.status.success(), "{}", text(&out));
    check_watch_lines(&out.stdout, 1, &types)?;
    Ok(())
}
