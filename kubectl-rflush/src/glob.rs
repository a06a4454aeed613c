//! Redis glob patterns (the `MATCH` syntax of SCAN), matched exactly like the server's
//! `stringmatchlen`: `*`, `?`, `[abc]`, `[^a-z]`, `\x` escapes, on bytes. Range ends compare
//! as C `char`, signed on x86_64 (where Redis runs on these machines): `[a-\xff]` is the range
//! -1..=97, so it holds `\xff` but not `b`. (A Redis built where `char` is unsigned, e.g. on
//! arm64, compares them unsigned; only ranges with an end at or above 0x80 differ.)
//! `tests/glob_props.rs` checks this module against a reference matcher and a real server.
//!
//! The plugin lets the server filter with `SCAN MATCH`; this matcher classifies keys
//! client-side when one pass serves several patterns (`stats`) and decides whether a
//! pattern matches everything (which needs the stronger confirmation).

/// True when `pattern` matches `key`, with the server's semantics.
pub fn matches(pattern: &[u8], key: &[u8]) -> bool {
    // SCAN does not filter at all for a lone `*` (it would not match the empty key).
    if pattern == b"*" {
        return true;
    }
    let mut skip_longer = false;
    match_impl(pattern, key, &mut skip_longer, 0)
}

fn match_impl(pattern: &[u8], string: &[u8], skip_longer: &mut bool, nesting: u32) -> bool {
    if nesting > 1000 {
        return false;
    }
    let at = |p: &[u8], i: usize| p.get(i).copied().unwrap_or(0);
    let (mut p, mut s) = (0usize, 0usize);
    while p < pattern.len() && s < string.len() {
        match pattern[p] {
            b'*' => {
                while p + 1 < pattern.len() && pattern[p + 1] == b'*' {
                    p += 1;
                }
                if p + 1 == pattern.len() {
                    return true;
                }
                while s < string.len() {
                    if match_impl(&pattern[p + 1..], &string[s..], skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s += 1;
                }
                *skip_longer = true;
                return false;
            }
            b'?' => s += 1,
            b'[' => {
                p += 1;
                let not = at(pattern, p) == b'^';
                if not {
                    p += 1;
                }
                let mut matched = false;
                let c = string[s];
                loop {
                    if at(pattern, p) == b'\\' && pattern.len() - p >= 2 {
                        p += 1;
                        if pattern[p] == c {
                            matched = true;
                        }
                    } else if p < pattern.len() && pattern[p] == b']' {
                        break;
                    } else if p >= pattern.len() {
                        // Unterminated class: the server steps back so the outer loop ends.
                        p -= 1;
                        break;
                    } else if pattern.len() - p >= 3 && pattern[p + 1] == b'-' {
                        // As the server's `char`s: signed (see the module doc).
                        let (mut start, mut end) = (pattern[p] as i8, pattern[p + 2] as i8);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        if (start..=end).contains(&(c as i8)) {
                            matched = true;
                        }
                        p += 2;
                    } else if pattern[p] == c {
                        matched = true;
                    }
                    p += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s += 1;
            }
            b'\\' => {
                if pattern.len() - p >= 2 {
                    p += 1;
                }
                if pattern[p] != string[s] {
                    return false;
                }
                s += 1;
            }
            other => {
                if other != string[s] {
                    return false;
                }
                s += 1;
            }
        }
        p += 1;
        if s == string.len() {
            while p < pattern.len() && pattern[p] == b'*' {
                p += 1;
            }
            break;
        }
    }
    p == pattern.len() && s == string.len()
}

/// True when the pattern matches every key (`*`, `**`, ...): flushing it empties the
/// database, so it needs the stronger confirmation.
pub fn matches_everything(pattern: &str) -> bool {
    !pattern.is_empty() && pattern.bytes().all(|b| b == b'*')
}

/// Checks a user-supplied pattern: not empty, no unterminated `[` class. Classes are read as
/// the server reads them: `\x` is the byte `x`, and `a-b` is a range whenever two bytes follow
/// the `a`, so in `[a-]` the `-]` is a range end and the class stays open.
pub fn validate(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("the pattern is empty".into());
    }
    let bytes = pattern.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'[' => {
                i += 1;
                if bytes.get(i) == Some(&b'^') {
                    i += 1;
                }
                loop {
                    match bytes.get(i) {
                        None => return Err(unterminated(pattern)),
                        Some(b'\\') if i + 1 < bytes.len() => i += 2,
                        Some(b']') => break,
                        Some(_) if i + 2 < bytes.len() && bytes[i + 1] == b'-' => i += 3,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

fn unterminated(pattern: &str) -> String {
    let mut message = format!("the pattern {pattern:?} has an unterminated [ class");
    if pattern.contains("-]") {
        message.push_str(
            " (a '-' before ']' starts a range that takes the ']'; put the '-' first: [-a])",
        );
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, k: &[u8]) -> bool {
        matches(p.as_bytes(), k)
    }

    #[test]
    fn stars_and_prefixes() {
        assert!(m("market:data:*", b"market:data:AAPL"));
        assert!(m("market:data:*", b"market:data:"));
        assert!(!m("market:data:*", b"market:dat"));
        assert!(!m("market:data:*", b"xmarket:data:1"));
        assert!(m("*", b""), "SCAN MATCH * does not filter");
        assert!(
            !m("**", b""),
            "the server's matcher needs a byte to enter the loop"
        );
        assert!(m("*:x", b"a:b:x"));
        assert!(m("a*b*c", b"a-b-b-c"));
        assert!(!m("a*b*c", b"a-b-b-d"));
    }

    #[test]
    fn question_classes_and_escapes() {
        assert!(m("h?llo", b"hallo"));
        assert!(!m("h?llo", b"hllo"));
        assert!(m("h[ae]llo", b"hello"));
        assert!(!m("h[ae]llo", b"hillo"));
        assert!(m("h[^e]llo", b"hallo"));
        assert!(!m("h[^e]llo", b"hello"));
        assert!(m("h[a-b]llo", b"hbllo"));
        assert!(
            m("h[b-a]llo", b"hallo"),
            "reversed ranges work like the server's"
        );
        assert!(m(r"k\*", b"k*"));
        assert!(!m(r"k\*", b"kx"));
        assert!(m(r"[\]]", b"]"));
    }

    #[test]
    fn binary_keys() {
        assert!(matches(b"bin:*", b"bin:\x00\xff\n\"'"));
        assert!(matches(b"bin:?", b"bin:\x00"));
    }

    #[test]
    fn match_everything_detection() {
        assert!(matches_everything("*"));
        assert!(matches_everything("***"));
        assert!(!matches_everything("*:*"));
        assert!(!matches_everything("session:*"));
    }

    #[test]
    fn validation() {
        assert!(validate("").is_err());
        assert!(validate("a[bc").is_err());
        assert!(validate(r"a\[bc").is_ok());
        assert!(validate("a[bc]*").is_ok());
        assert!(validate("[a-]").unwrap_err().contains("put the '-' first"));
        assert!(validate("[-a]").is_ok());
        assert!(validate(r"[\]]").is_ok());
    }
}
