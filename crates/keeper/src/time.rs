//! Times and durations as Lookout writes them: Unix seconds, `HH:MM:SS`, and the one duration
//! format (`45s`, `5m 12s`, `1h 02m`) that rules, notifications, the terminal and the tray share.
//! The windows format durations in `ui/format.js` the same way.

/// Now, in Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `HH:MM:SS` (UTC) of a Unix time.
pub fn clock(unix: i64) -> String {
    let s = unix.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `HH:MM:SS UTC` of a Unix time, for messages.
pub fn clock_text(unix: i64) -> String {
    format!("{} UTC", clock(unix))
}

/// A duration in seconds: `45s`, `5m 12s`, `1h 02m`. Negative durations read as `0s`.
pub fn fmt_dur(secs: i64) -> String {
    let s = secs.max(0);
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, s / 60 % 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_clock() {
        assert_eq!(fmt_dur(-5), "0s");
        assert_eq!(fmt_dur(45), "45s");
        assert_eq!(fmt_dur(312), "5m 12s");
        assert_eq!(fmt_dur(3720), "1h 02m");
        assert_eq!(clock(3600 + 61), "01:01:01");
        assert_eq!(clock(-1), "23:59:59");
    }
}
