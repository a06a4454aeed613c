//! A tolerant PEM splitter: every `-----BEGIN X-----` … `-----END X-----` block of a blob,
//! decoded, plus the problems found on the way (unterminated blocks, bad base64, mismatched
//! labels). It never panics on any input (see the property tests) and never echoes block
//! contents in its messages, so it is safe on private keys.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// One decoded PEM block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The label, e.g. `CERTIFICATE`, `PRIVATE KEY`, `RSA PRIVATE KEY`.
    pub label: String,
    /// The decoded DER bytes.
    pub der: Vec<u8>,
}

impl Block {
    /// True for `CERTIFICATE` (and the legacy `X509 CERTIFICATE`/`TRUSTED CERTIFICATE`).
    pub fn is_certificate(&self) -> bool {
        matches!(
            self.label.as_str(),
            "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE"
        )
    }

    /// True for any private key label.
    pub fn is_private_key(&self) -> bool {
        self.label.ends_with("PRIVATE KEY")
    }
}

/// The blocks of a blob and what was wrong with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Blocks that decoded cleanly, in order.
    pub blocks: Vec<Block>,
    /// Problems, one line each, numbered by block (1-based).
    pub problems: Vec<String>,
}

impl Parsed {
    /// The certificate blocks, in order.
    pub fn certificates(&self) -> impl Iterator<Item = &Block> {
        self.blocks.iter().filter(|b| b.is_certificate())
    }
}

fn label_of<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.strip_prefix(marker)?.strip_suffix("-----")
}

/// Splits `input` into PEM blocks. Text outside blocks is ignored (as openssl does); a blob
/// with no block at all is reported as a problem.
pub fn parse(input: &[u8]) -> Parsed {
    let text = String::from_utf8_lossy(input);
    let mut parsed = Parsed::default();
    let mut current: Option<(String, String, usize)> = None;
    let mut count = 0usize;
    for raw in text.lines() {
        let line = raw.trim();
        if let Some(label) = label_of(line, "-----BEGIN ") {
            count += 1;
            if let Some((open, _, n)) = current.take() {
                parsed
                    .problems
                    .push(format!("PEM block {n} ({open}) has no END line"));
            }
            current = Some((label.to_string(), String::new(), count));
            continue;
        }
        if let Some(label) = label_of(line, "-----END ") {
            match current.take() {
                Some((open, body, n)) => {
                    if open != label {
                        parsed.problems.push(format!(
                            "PEM block {n} begins as {open:?} but ends as {label:?}"
                        ));
                        continue;
                    }
                    match STANDARD.decode(body.as_bytes()) {
                        Ok(der) if !der.is_empty() => {
                            parsed.blocks.push(Block { label: open, der })
                        }
                        Ok(_) => parsed
                            .problems
                            .push(format!("PEM block {n} ({open}) is empty")),
                        Err(_) => parsed
                            .problems
                            .push(format!("PEM block {n} ({open}) is not valid base64")),
                    }
                }
                None => parsed
                    .problems
                    .push(format!("stray END line for {label:?} without BEGIN")),
            }
            continue;
        }
        if let Some((_, body, _)) = current.as_mut() {
            // RFC 1421 headers (Proc-Type: …) are skipped; encrypted keys then fail to parse later.
            if !line.contains(':') {
                body.extend(line.chars().filter(|c| !c.is_whitespace()));
            }
        }
    }
    if let Some((open, _, n)) = current {
        parsed
            .problems
            .push(format!("PEM block {n} ({open}) has no END line"));
    }
    if count == 0 {
        parsed
            .problems
            .push("no PEM block found (is the data base64-encoded twice, or DER?)".into());
    }
    parsed
}

/// Encodes DER as a PEM block with 64-column lines.
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_blocks_and_ignores_text_between() {
        let text = format!(
            "subject=foo\n{}junk\n{}",
            encode("CERTIFICATE", b"abc"),
            encode("PRIVATE KEY", b"key")
        );
        let p = parse(text.as_bytes());
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert_eq!(p.blocks.len(), 2);
        assert_eq!(p.blocks[0].der, b"abc");
        assert!(p.blocks[1].is_private_key());
        assert_eq!(p.certificates().count(), 1);
    }

    #[test]
    fn reports_garbage_without_echoing_it() {
        let p = parse(b"-----BEGIN CERTIFICATE-----\n!!!secret!!!\n-----END CERTIFICATE-----\n");
        assert!(p.blocks.is_empty());
        assert_eq!(
            p.problems,
            ["PEM block 1 (CERTIFICATE) is not valid base64"]
        );
        assert!(!p.problems[0].contains("secret"));
        assert!(parse(b"hello").problems[0].starts_with("no PEM block"));
    }

    #[test]
    fn reports_unterminated_and_mismatched_blocks() {
        let p = parse(b"-----BEGIN CERTIFICATE-----\nYWJj\n");
        assert_eq!(p.problems, ["PEM block 1 (CERTIFICATE) has no END line"]);
        let p = parse(b"-----BEGIN CERTIFICATE-----\nYWJj\n-----END PRIVATE KEY-----\n");
        assert!(p.problems[0].contains("ends as"), "{:?}", p.problems);
    }
}
