//! krew manifests: rendering the krew-release-bot templates in `krew-manifests/`, and
//! validating manifests by the rules krew's `validate-krew-manifest` enforces.

use std::collections::BTreeSet;

use serde_json::Value;

/// The plugins, as krew names them (manifest file `krew-manifests/<name>.yaml`).
pub const PLUGINS: [&str; 3] = ["certs", "rflush", "debugpod"];

/// The operating systems and architectures krew accepts in selectors.
const SUPPORTED: [(&str, &[&str]); 3] = [
    ("linux", &["386", "amd64", "arm", "arm64", "ppc64le"]),
    ("darwin", &["386", "amd64", "arm64"]),
    ("windows", &["386", "amd64", "arm64"]),
];

const WINDOWS_RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Renders a release-bot template: `{{ .TagName }}` becomes `tag`, and each
/// `{{addURIAndSha "URL" .TagName }}` line becomes `uri: URL` + `sha256: SHA` where
/// `sha_for(url)` knows the archive. A platform whose archive is unknown is left out
/// (so a local build for one platform renders a valid one-platform manifest).
pub fn render(
    template: &str,
    tag: &str,
    sha_for: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let text = template.replace("{{ .TagName }}", tag);
    // Split into the part before the platform list and one chunk per platform.
    let marker = "\n  - selector:";
    let mut chunks = text.split(marker);
    let head = chunks.next().unwrap_or_default().to_string();
    let mut out = head;
    let mut kept = 0;
    for chunk in chunks {
        let mut rendered = String::new();
        let mut known = true;
        for line in chunk.split_inclusive('\n') {
            let trimmed = line.trim_start();
            if let Some(rest) = trimmed.strip_prefix("{{addURIAndSha \"") {
                let indent = &line[..line.len() - trimmed.len()];
                let url = rest
                    .split('"')
                    .next()
                    .ok_or("unterminated addURIAndSha url")?;
                match sha_for(url) {
                    Some(sha) => {
                        rendered.push_str(&format!("{indent}uri: {url}\n{indent}sha256: {sha}\n"))
                    }
                    None => known = false,
                }
            } else {
                rendered.push_str(line);
            }
        }
        if known {
            out.push_str(marker);
            out.push_str(&rendered);
            kept += 1;
        }
    }
    if kept == 0 {
        return Err("no platform has an archive to point at".into());
    }
    if out.contains("{{") {
        return Err("template has placeholders left after rendering".into());
    }
    Ok(out)
}

fn is_semver_with_v(version: &str) -> bool {
    let Some(rest) = version.strip_prefix('v') else {
        return false;
    };
    let core = rest.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn is_license_file(name: &str) -> bool {
    let lower = name.trim_start_matches("./").to_ascii_lowercase();
    ["license", "license.txt", "license.md"].contains(&lower.as_str())
        || lower.starts_with("licenses")
        || lower.starts_with("copying")
}

/// The (os, arch) pairs a selector matches.
fn selector_matches(selector: &Value) -> Result<BTreeSet<(String, String)>, String> {
    let labels = selector.get("matchLabels").and_then(Value::as_object);
    let expressions = selector.get("matchExpressions").and_then(Value::as_array);
    if labels.is_none_or(|l| l.is_empty()) && expressions.is_none_or(|e| e.is_empty()) {
        return Err("selector is empty".into());
    }
    let mut allowed_os: Option<BTreeSet<String>> = None;
    let mut allowed_arch: Option<BTreeSet<String>> = None;
    let mut restrict = |key: &str, values: BTreeSet<String>| -> Result<(), String> {
        let slot = match key {
            "os" => &mut allowed_os,
            "arch" => &mut allowed_arch,
            other => {
                return Err(format!(
                    "selector key {other:?} is not allowed (only os and arch)"
                ));
            }
        };
        *slot = Some(match slot.take() {
            Some(prev) => prev.intersection(&values).cloned().collect(),
            None => values,
        });
        Ok(())
    };
    for (key, value) in labels.into_iter().flatten() {
        let v = value.as_str().ok_or("matchLabels values must be strings")?;
        restrict(key, BTreeSet::from([v.to_string()]))?;
    }
    for expr in expressions.into_iter().flatten() {
        let key = expr
            .get("key")
            .and_then(Value::as_str)
            .ok_or("matchExpressions needs a key")?;
        if expr.get("operator").and_then(Value::as_str) != Some("In") {
            return Err("only the In operator is supported here".into());
        }
        let values = expr
            .get("values")
            .and_then(Value::as_array)
            .ok_or("matchExpressions needs values")?;
        restrict(
            key,
            values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        )?;
    }
    let mut pairs = BTreeSet::new();
    for (os, arches) in SUPPORTED {
        if allowed_os.as_ref().is_some_and(|s| !s.contains(os)) {
            continue;
        }
        for arch in arches {
            if allowed_arch.as_ref().is_none_or(|s| s.contains(*arch)) {
                pairs.insert((os.to_string(), arch.to_string()));
            }
        }
    }
    if pairs.is_empty() {
        return Err("selector matches no supported os/arch".into());
    }
    Ok(pairs)
}

/// Validates a manifest the way `validate-krew-manifest` does (without installing it).
/// `file_stem` is the manifest's file name without `.yaml`. Returns every problem found.
pub fn validate(file_stem: &str, yaml: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let doc: Value = match serde_saphyr::from_str(yaml) {
        Ok(v) => v,
        Err(e) => return vec![format!("not valid YAML: {e}")],
    };
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name != file_stem {
        problems.push(format!(
            "metadata.name {name:?} does not match the file name {file_stem:?}"
        ));
    }
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        problems.push(format!("plugin name {name:?} must match ^[\\w-]+$"));
    }
    if name.starts_with("kubectl-") {
        problems.push("plugin name must not start with kubectl-".into());
    }
    if WINDOWS_RESERVED.contains(&name.to_ascii_uppercase().as_str()) {
        problems.push(format!(
            "plugin name {name:?} is a reserved Windows file name"
        ));
    }
    if doc.get("apiVersion").and_then(Value::as_str)
        != Some("krew.googlecontainertools.github.com/v1alpha2")
    {
        problems.push("apiVersion must be krew.googlecontainertools.github.com/v1alpha2".into());
    }
    if doc.get("kind").and_then(Value::as_str) != Some("Plugin") {
        problems.push("kind must be Plugin".into());
    }
    let spec = doc.get("spec").cloned().unwrap_or(Value::Null);
    let short = spec
        .get("shortDescription")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if short.is_empty() || short.contains('\n') {
        problems.push("shortDescription must be set and on one line".into());
    }
    let version = spec
        .get("version")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !is_semver_with_v(version) {
        problems.push(format!(
            "version {version:?} is not a semantic version with a v prefix"
        ));
    }
    let platforms = spec
        .get("platforms")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if platforms.is_empty() {
        problems.push("at least one platform is required".into());
    }
    let mut covered: Vec<BTreeSet<(String, String)>> = Vec::new();
    for (i, p) in platforms.iter().enumerate() {
        let at = format!("platforms[{i}]");
        if p.get("uri")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            problems.push(format!("{at}: uri is required"));
        }
        let sha = p.get("sha256").and_then(Value::as_str).unwrap_or_default();
        if sha.len() != 64
            || !sha
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        {
            problems.push(format!(
                "{at}: sha256 {sha:?} is not 64 lowercase hex digits"
            ));
        }
        let bin = p.get("bin").and_then(Value::as_str).unwrap_or_default();
        if bin.is_empty() {
            problems.push(format!("{at}: bin is required"));
        }
        let files = p.get("files").and_then(Value::as_array);
        if let Some(files) = files {
            if files.is_empty() {
                problems.push(format!("{at}: files, when given, must not be empty"));
            }
            let mut targets = Vec::new();
            for f in files {
                let from = f.get("from").and_then(Value::as_str).unwrap_or_default();
                let to = f.get("to").and_then(Value::as_str).unwrap_or_default();
                if from.is_empty() || to.is_empty() {
                    problems.push(format!("{at}: every file needs from and to"));
                }
                targets.push(from.rsplit('/').next().unwrap_or(from).to_string());
            }
            if !targets.iter().any(|t| t == bin.trim_start_matches("./")) {
                problems.push(format!(
                    "{at}: bin {bin:?} is not among the installed files"
                ));
            }
            if !targets.iter().any(|t| is_license_file(t)) {
                problems.push(format!("{at}: no LICENSE file is installed"));
            }
        }
        match p.get("selector").map(selector_matches) {
            None => problems.push(format!("{at}: selector is required")),
            Some(Err(e)) => problems.push(format!("{at}: {e}")),
            Some(Ok(pairs)) => {
                if pairs.iter().all(|(os, _)| os == "windows") && !bin.ends_with(".exe") {
                    problems.push(format!("{at}: a windows bin must end in .exe"));
                }
                for (j, earlier) in covered.iter().enumerate() {
                    if let Some(both) = earlier.intersection(&pairs).next() {
                        problems.push(format!(
                            "{at} overlaps platforms[{j}] on {}/{}",
                            both.0, both.1
                        ));
                    }
                }
                covered.push(pairs);
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_needs_a_v() {
        assert!(is_semver_with_v("v0.1.0"));
        assert!(is_semver_with_v("v1.2.3-rc.1"));
        assert!(!is_semver_with_v("0.1.0"));
        assert!(!is_semver_with_v("v1.2"));
    }

    #[test]
    fn license_names() {
        assert!(is_license_file("LICENSE"));
        assert!(is_license_file("./license.txt"));
        assert!(!is_license_file("README.md"));
    }
}
