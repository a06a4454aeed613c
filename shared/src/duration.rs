//! Durations on the command line and in config: `30d`, `1h30m`, `90s`, or bare seconds.

use std::time::Duration;

/// Parses `30d`, `12h`, `1h30m`, `500ms`, or a bare number of seconds (`3600`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(text).map_err(|e| {
        format!("invalid duration {text:?} ({e}); use e.g. 90s, 15m, 12h, 30d or 1h30m")
    })
}

/// Formats a duration the way kubectl prints ages: `45s`, `12m`, `5h`, `3d`, `2y`.
pub fn format_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s}s"),
        120..7_200 => format!("{}m", s / 60),
        7_200..172_800 => format!("{}h", s / 3_600),
        172_800..63_072_000 => format!("{}d", s / 86_400),
        _ => format!("{}y", s / 31_536_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_bare_seconds() {
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5_400));
        assert_eq!(parse_duration("3600").unwrap(), Duration::from_secs(3_600));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
    }

    #[test]
    fn rejects_garbage_with_an_example() {
        let err = parse_duration("soon").unwrap_err();
        assert!(err.contains("use e.g. 90s"), "{err}");
    }

    #[test]
    fn ages_like_kubectl() {
        assert_eq!(format_age(Duration::from_secs(59)), "59s");
        assert_eq!(format_age(Duration::from_secs(600)), "10m");
        assert_eq!(format_age(Duration::from_secs(3 * 3_600)), "3h");
        assert_eq!(format_age(Duration::from_secs(3 * 86_400)), "3d");
        assert_eq!(format_age(Duration::from_secs(800 * 86_400)), "2y");
    }
}
