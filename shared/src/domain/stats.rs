//! The operator's figures: what window they cover.

use chrono::TimeDelta;

/// The longest window the delivery figures cover.
pub const MAX_WINDOW: TimeDelta = TimeDelta::days(7);

/// A window like `15m`, `1h` or `7d` (minutes, hours, days), from 1 minute to
/// [`MAX_WINDOW`].
pub fn parse_window(raw: &str) -> Result<TimeDelta, String> {
    let raw = raw.trim();
    let unit = raw.chars().last().unwrap_or(' ');
    let n: i64 = raw[..raw.len() - unit.len_utf8().min(raw.len())]
        .parse()
        .map_err(|_| format!("`{raw}` is not a window like 15m, 1h or 7d"))?;
    let window = match unit {
        'm' => TimeDelta::try_minutes(n),
        'h' => TimeDelta::try_hours(n),
        'd' => TimeDelta::try_days(n),
        _ => None,
    }
    .ok_or_else(|| format!("`{raw}` is not a window like 15m, 1h or 7d"))?;
    if window < TimeDelta::minutes(1) || window > MAX_WINDOW {
        return Err("a window is from 1m to 7d".into());
    }
    Ok(window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_minutes_hours_or_days_up_to_a_week() {
        assert_eq!(parse_window("15m"), Ok(TimeDelta::minutes(15)));
        assert_eq!(parse_window("1h"), Ok(TimeDelta::hours(1)));
        assert_eq!(parse_window("7d"), Ok(TimeDelta::days(7)));
        for bad in [
            "", "h", "0m", "8d", "169h", "1w", "-1h", "1.5h", "ten", "1hh", "é",
        ] {
            assert!(parse_window(bad).is_err(), "{bad}");
        }
    }
}
