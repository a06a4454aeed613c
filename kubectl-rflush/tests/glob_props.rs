//! Property tests of the Redis glob matcher and pattern check ([`kubectl_rflush::glob`]):
//! arbitrary patterns never panic; `matches` agrees with an independent reference matcher
//! written from the server's documented semantics; `validate` accepts exactly the patterns
//! whose `[` classes are closed; and, against a real `redis-server`, `matches` agrees with
//! what `SCAN ... MATCH` returns.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kubectl_rflush::glob;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// A reference matcher for Redis' `stringmatchlen` (`src/util.c`), written from its rules
/// rather than translated from its loop:
///
/// - The pattern is a sequence of tokens: `*` (a run of stars is one), `?`, `\x` (the byte
///   `x`; a lone trailing `\` is a literal `\`), `[...]` and any other byte (itself).
/// - A class is `[`, an optional `^` (negation), then items up to the first unescaped `]`:
///   `\x` (the byte `x`, when a byte follows the `\`), `a-b` (a range, when two more bytes
///   follow the `a`, so `[a-]` is the range `a`..`]` and the class stays open), or a byte. A
///   class that reaches the end of the pattern is closed there. Range ends compare as C
///   `char`, which is signed on x86_64 (where Redis runs here): `[a-\xff]` is the range
///   -1..97 and does not hold `b`.
/// - Every token but `*` consumes exactly one byte; `*` any number.
/// - The loop runs only while both the pattern and the key have bytes left, so the empty key
///   matches only the empty pattern (`*` does not match it).
/// - `SCAN` itself does not filter for the pattern `*` alone: every key matches it.
mod reference {
    #[derive(Debug, Clone, PartialEq)]
    pub enum Token {
        Star,
        Any,
        Byte(u8),
        Class {
            negated: bool,
            bytes: Vec<u8>,
            ranges: Vec<(i8, i8)>,
        },
    }

    /// The tokens, and whether a `[` class ran off the end of the pattern.
    pub fn tokenize(p: &[u8]) -> (Vec<Token>, bool) {
        let mut out = Vec::new();
        let mut unterminated = false;
        let mut i = 0;
        while i < p.len() {
            match p[i] {
                b'*' => {
                    if out.last() != Some(&Token::Star) {
                        out.push(Token::Star);
                    }
                    i += 1;
                }
                b'?' => {
                    out.push(Token::Any);
                    i += 1;
                }
                b'\\' if i + 1 < p.len() => {
                    out.push(Token::Byte(p[i + 1]));
                    i += 2;
                }
                b'[' => {
                    i += 1;
                    let negated = p.get(i) == Some(&b'^');
                    if negated {
                        i += 1;
                    }
                    let (mut bytes, mut ranges) = (Vec::new(), Vec::new());
                    loop {
                        if i >= p.len() {
                            unterminated = true;
                            break;
                        }
                        if p[i] == b'\\' && i + 1 < p.len() {
                            bytes.push(p[i + 1]);
                            i += 2;
                        } else if p[i] == b']' {
                            i += 1;
                            break;
                        } else if i + 2 < p.len() && p[i + 1] == b'-' {
                            let (a, b) = (p[i] as i8, p[i + 2] as i8);
                            ranges.push((a.min(b), a.max(b)));
                            i += 3;
                        } else {
                            bytes.push(p[i]);
                            i += 1;
                        }
                    }
                    out.push(Token::Class {
                        negated,
                        bytes,
                        ranges,
                    });
                }
                b => {
                    out.push(Token::Byte(b));
                    i += 1;
                }
            }
        }
        (out, unterminated)
    }

    fn accepts(token: &Token, c: u8) -> bool {
        match token {
            Token::Star => unreachable!("a star is not a one-byte token"),
            Token::Any => true,
            Token::Byte(b) => *b == c,
            Token::Class {
                negated,
                bytes,
                ranges,
            } => {
                let inside = bytes.contains(&c)
                    || ranges
                        .iter()
                        .any(|&(lo, hi)| (lo..=hi).contains(&(c as i8)));
                inside != *negated
            }
        }
    }

    /// `SCAN ... MATCH pattern` keeps `key`.
    pub fn scan_keeps(pattern: &[u8], key: &[u8]) -> bool {
        if pattern == b"*" {
            return true;
        }
        if key.is_empty() {
            return pattern.is_empty();
        }
        let (tokens, _) = tokenize(pattern);
        // at[j]: the tokens seen so far match key[..j] (classic glob dynamic programming).
        let mut at = vec![false; key.len() + 1];
        at[0] = true;
        for token in &tokens {
            let mut next = vec![false; key.len() + 1];
            if *token == Token::Star {
                let mut reached = false;
                for j in 0..=key.len() {
                    reached |= at[j];
                    next[j] = reached;
                }
            } else {
                for j in 0..key.len() {
                    next[j + 1] = at[j] && accepts(token, key[j]);
                }
            }
            at = next;
        }
        at[key.len()]
    }
}

/// A runner of `cases` cases; a failure prints its minimal input (nothing is written to disk).
fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Bytes that mean something to the matcher, plus NUL and high bytes (signedness).
const ALPHABET: &[u8] = b"ab-[]^\\*?:\x00\x80\xff";

fn symbol() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => prop::sample::select(ALPHABET),
        1 => any::<u8>(),
    ]
}

/// One piece of a well-formed-looking pattern: literals, `*`, `?`, an escape, or a class of
/// bytes, ranges (ends anywhere in 0..=255, so signedness shows) and escapes, closed or not.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    let item = prop_oneof![
        symbol().prop_map(|b| vec![b]),
        (symbol(), any::<u8>()).prop_map(|(a, b)| vec![a, b'-', b]),
        (any::<u8>(), symbol()).prop_map(|(a, b)| vec![a, b'-', b]),
        symbol().prop_map(|b| vec![b'\\', b]),
    ];
    prop_oneof![
        prop::collection::vec(prop::sample::select(b"ab:".as_slice()), 1..3),
        Just(b"*".to_vec()),
        Just(b"?".to_vec()),
        symbol().prop_map(|b| vec![b'\\', b]),
        (
            any::<bool>(),
            prop::collection::vec(item, 0..3),
            prop::bool::weighted(0.8)
        )
            .prop_map(|(negated, items, closed)| {
                let mut class = vec![b'['];
                if negated {
                    class.push(b'^');
                }
                class.extend(items.concat());
                if closed {
                    class.push(b']');
                }
                class
            }),
    ]
}

/// Patterns: random bytes over the alphabet, or a few pieces.
fn pattern() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(symbol(), 0..10),
        prop::collection::vec(piece(), 0..4).prop_map(|p| p.concat()),
    ]
}

/// A key made from the pattern (so that many pairs match): each pattern byte kept, dropped,
/// replaced or followed by extra bytes.
fn key_like(pattern: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let n = pattern.len();
    prop::collection::vec((0u8..8, symbol(), prop::collection::vec(symbol(), 0..3)), n).prop_map(
        move |edits| {
            let mut key = Vec::new();
            for (&b, (op, other, extra)) in pattern.iter().zip(edits) {
                match op {
                    0 => {}
                    1 => key.push(other),
                    2 => {
                        key.push(b);
                        key.extend(extra);
                    }
                    _ if !matches!(b, b'*' | b'?' | b'[' | b']' | b'\\' | b'^') => key.push(b),
                    _ => key.extend(extra),
                }
            }
            key
        },
    )
}

fn pattern_and_keys() -> impl Strategy<Value = (Vec<u8>, Vec<Vec<u8>>)> {
    pattern().prop_flat_map(|p| {
        let keys = prop::collection::vec(
            prop_oneof![
                3 => key_like(p.clone()).boxed(),
                1 => prop::collection::vec(symbol(), 0..6).boxed(),
            ],
            1..12,
        );
        (Just(p), keys)
    })
}

#[test]
fn reference_matcher_knows_the_servers_quirks() {
    use reference::scan_keeps as m;
    assert!(m(b"*", b""), "SCAN does not filter for a lone *");
    assert!(!m(b"**", b""), "stringmatchlen needs a key byte to start");
    assert!(m(b"a*b", b"ab"));
    assert!(m(b"[a-]", b"_"), "[a-] is the range a..]");
    assert!(!m(b"[a-]", b"-"));
    assert!(!m(b"[a-\xff]", b"b"), "signed char: the range is -1..97");
    assert!(m(b"[\x80-\xa0]", b"\x90"));
    assert!(
        m(b"[\x00-\x80]", b"\xff"),
        "signed char: the range is -128..0"
    );
    assert!(m(b"ab\\", b"ab\\"), "a trailing backslash is literal");
    assert!(!m(b"[", b"["), "an empty open class matches nothing");
    assert!(!m(b"[]", b"]"), "[] is an empty class");
    assert!(m(b"[^]", b"]"), "[^] matches any byte");
}

/// `matches` and `validate` never panic, whatever the bytes.
#[test]
fn arbitrary_patterns_never_panic() {
    let mut runner = runner(512);
    runner
        .run(
            &(
                prop::collection::vec(any::<u8>(), 0..64),
                prop::collection::vec(any::<u8>(), 0..64),
            ),
            |(p, k)| {
                let _ = glob::matches(&p, &k);
                let text = String::from_utf8_lossy(&p);
                let _ = glob::validate(&text);
                let _ = glob::matches_everything(&text);
                Ok(())
            },
        )
        .unwrap();
}

/// `matches` agrees with the reference on every generated pair, and enough of the pairs match
/// (a generator that only made misses would prove little).
#[test]
fn matches_agrees_with_the_reference_matcher() {
    let (pairs, hits) = (Cell::new(0usize), Cell::new(0usize));
    let mut runner = runner(1000);
    runner
        .run(&pattern_and_keys(), |(p, keys)| {
            for k in &keys {
                let expected = reference::scan_keeps(&p, k);
                prop_assert_eq!(
                    glob::matches(&p, k),
                    expected,
                    "pattern {:?} key {:?}",
                    String::from_utf8_lossy(&p),
                    String::from_utf8_lossy(k)
                );
                pairs.set(pairs.get() + 1);
                hits.set(hits.get() + usize::from(expected));
            }
            Ok(())
        })
        .unwrap();
    assert!(
        hits.get() * 10 >= pairs.get(),
        "only {} of {} generated pairs match",
        hits.get(),
        pairs.get()
    );
}

/// `validate` accepts a non-empty pattern exactly when none of its classes runs off the end
/// (as the server reads them: `[a-]` is open, `[\]]` is closed).
#[test]
fn validate_accepts_exactly_the_closed_patterns() {
    let mut runner = runner(1000);
    runner
        .run(&"[ab\\-\\[\\]^\\\\*?]{0,10}", |p| {
            let (_, open) = reference::tokenize(p.as_bytes());
            let verdict = glob::validate(&p);
            prop_assert_eq!(
                verdict.is_ok(),
                !p.is_empty() && !open,
                "pattern {:?}: {:?}",
                p,
                verdict
            );
            Ok(())
        })
        .unwrap();
    assert!(glob::validate("[a-]").is_err());
    assert!(glob::validate("[-a]").is_ok());
}

/// A `redis-server` on a Unix socket in a temporary directory, killed on drop.
struct Server {
    child: Child,
    socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("redis.sock");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no"])
            .arg("--unixsocket")
            .arg(&socket)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (apt-get install -y redis-server)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not open its socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Server {
            child,
            socket,
            _dir: dir,
        }
    }

    fn conn(&self) -> redis::Connection {
        let url = format!("unix://{}", self.socket.display());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match redis::Client::open(url.as_str()).and_then(|c| c.get_connection()) {
                Ok(c) => return c,
                Err(e) if Instant::now() > deadline => panic!("connect to redis-server: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn scan_match(conn: &mut redis::Connection, pattern: &[u8]) -> BTreeSet<Vec<u8>> {
    let mut found = BTreeSet::new();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query(conn)
            .expect("SCAN");
        found.extend(keys);
        if next == 0 {
            return found;
        }
        cursor = next;
    }
}

/// Against a real server: for generated patterns, the keys `SCAN ... MATCH` returns are the
/// keys `matches` keeps.
#[test]
fn matches_agrees_with_a_real_redis_scan_match() {
    let server = Server::start();
    let mut conn = server.conn();
    // Every key of up to two bytes over the alphabet, and the empty key.
    let mut keys: BTreeSet<Vec<u8>> = BTreeSet::new();
    keys.insert(Vec::new());
    for &a in ALPHABET {
        keys.insert(vec![a]);
        for &b in ALPHABET {
            keys.insert(vec![a, b]);
        }
    }
    // ...and longer ones built from the generated patterns, set as each case runs.
    let mut pipe = redis::pipe();
    for k in &keys {
        pipe.cmd("SET").arg(k).arg(1).ignore();
    }
    pipe.query::<()>(&mut conn).unwrap();
    let (checked, nonempty) = (Cell::new(0usize), Cell::new(0usize));
    let conn = std::cell::RefCell::new(conn);
    let keys = std::cell::RefCell::new(keys);
    let mut runner = runner(300);
    runner
        .run(&pattern_and_keys(), |(p, extra)| {
            let mut conn = conn.borrow_mut();
            let mut keys = keys.borrow_mut();
            for k in extra {
                redis::cmd("SET")
                    .arg(&k)
                    .arg(1)
                    .query::<()>(&mut *conn)
                    .unwrap();
                keys.insert(k);
            }
            let server_says = scan_match(&mut conn, &p);
            let we_say: BTreeSet<Vec<u8>> = keys
                .iter()
                .filter(|k| glob::matches(&p, k))
                .cloned()
                .collect();
            prop_assert_eq!(
                &we_say,
                &server_says,
                "pattern {:?}",
                String::from_utf8_lossy(&p)
            );
            checked.set(checked.get() + 1);
            nonempty.set(nonempty.get() + usize::from(!server_says.is_empty()));
            Ok(())
        })
        .unwrap();
    assert!(
        nonempty.get() * 4 >= checked.get(),
        "only {} of {} patterns matched any key",
        nonempty.get(),
        checked.get()
    );
}
