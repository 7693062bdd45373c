//! Parsers for the small values users type: durations (`1h30m`), cross-fades (`0.3s`,
//! `9f`) and signals (`talking=0.8`). Durations are kept in whole milliseconds so that
//! converting them to frames is exact and identical on every machine.

use crate::error::PlanError;
use crate::rational::Rational;
use serde::{Deserialize, Serialize};

/// Parses `90`, `90s`, `1.5s`, `500ms`, `30m`, `1h30m`, `2h` into milliseconds.
/// A bare number means seconds, but only on its own: `1h30` (30 what?) and
/// `1m30s30` are refused, as is a unit given twice or out of order (`30s1m`), so
/// that every accepted text means one thing. Zero and negative durations are
/// rejected.
pub fn parse_duration_ms(text: &str) -> Result<u64, PlanError> {
    let bad = |why: &str| PlanError::InvalidDuration(text.to_string(), why.to_string());
    let s = text.trim().to_ascii_lowercase();
    if s.is_empty() {
        return Err(bad("empty"));
    }
    if s.starts_with('-') {
        return Err(bad("must be greater than zero"));
    }
    let mut total: u64 = 0;
    let mut rest = s.as_str();
    // Units from largest to smallest; each part must use a smaller one than the last.
    const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];
    let mut smallest_so_far = None::<usize>;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(bad("expected a number, like 90, 90s, 30m or 1h30m"));
        }
        let (number, after) = rest.split_at(num_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let unit = if unit == "min" { "m" } else { unit };
        let rank = match (unit, smallest_so_far) {
            // A bare number is seconds only when it is the whole duration.
            ("", None) if next.is_empty() => 2,
            ("", _) => {
                return Err(bad(&format!(
                    "`{number}` has no unit (write it as {number}s, {number}m or {number}h)"
                )))
            }
            _ => UNITS
                .iter()
                .position(|(name, _)| *name == unit)
                .ok_or_else(|| bad(&format!("unknown unit `{unit}` (use h, m, s or ms)")))?,
        };
        if smallest_so_far.is_some_and(|previous| rank <= previous) {
            return Err(bad(
                "each unit at most once, largest first (like 1h30m or 2m30s)",
            ));
        }
        smallest_so_far = Some(rank);
        total = total
            .checked_add(
                decimal_times(number, UNITS[rank].1)
                    .ok_or_else(|| bad("not a number, or too large"))?,
            )
            .ok_or_else(|| bad("too large"))?;
        rest = next;
    }
    if total == 0 {
        return Err(bad("must be greater than zero"));
    }
    Ok(total)
}

/// `number × unit`, where `number` may have up to three decimals; exact in integers.
fn decimal_times(number: &str, unit: u64) -> Option<u64> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if frac.len() > 3 || (int.is_empty() && frac.is_empty()) {
        return None;
    }
    let int: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac_value: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    let frac_scale = 10u64.pow(frac.len() as u32);
    let whole = int.checked_mul(unit)?;
    whole.checked_add(frac_value.checked_mul(unit)? / frac_scale)
}

/// Frames needed to cover `ms` milliseconds at `fps`, rounded up.
pub fn ms_to_frames_ceil(ms: u64, fps: Rational) -> u64 {
    let num = ms as u128 * fps.num() as u128;
    let den = 1000u128 * fps.den() as u128;
    num.div_ceil(den) as u64
}

/// A cross-fade length as the user gave it: in time or in output frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CrossfadeSpec {
    Millis(u64),
    Frames(u64),
}

impl std::fmt::Display for CrossfadeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CrossfadeSpec::Millis(ms) => write!(f, "{ms}ms"),
            CrossfadeSpec::Frames(n) => write!(f, "{n}f"),
        }
    }
}

impl CrossfadeSpec {
    /// Whether any cross-fade was asked for.
    pub fn is_nonzero(&self) -> bool {
        !matches!(self, CrossfadeSpec::Millis(0) | CrossfadeSpec::Frames(0))
    }

    /// Parses `0`, `0.3s`, `300ms` or `9f`.
    pub fn parse(text: &str) -> Result<Self, PlanError> {
        let s = text.trim().to_ascii_lowercase();
        if let Some(frames) = s.strip_suffix('f') {
            return frames
                .trim()
                .parse()
                .map(CrossfadeSpec::Frames)
                .map_err(|_| {
                    PlanError::InvalidCrossfade(
                        text.to_string(),
                        "expected a whole number of frames, like 9f".into(),
                    )
                });
        }
        if s == "0" || s == "0s" {
            return Ok(CrossfadeSpec::Millis(0));
        }
        parse_duration_ms(&s)
            .map(CrossfadeSpec::Millis)
            .map_err(|_| {
                PlanError::InvalidCrossfade(
                    text.to_string(),
                    "expected a duration like 0.3s or a frame count like 9f".into(),
                )
            })
    }

    /// The length in output frames, rounding a time to the nearest frame.
    pub fn frames_at(&self, fps: Rational) -> u64 {
        match *self {
            CrossfadeSpec::Frames(n) => n,
            CrossfadeSpec::Millis(ms) => {
                let num = ms as u128 * fps.num() as u128;
                let den = 1000u128 * fps.den() as u128;
                ((2 * num + den) / (2 * den)) as u64
            }
        }
    }
}

/// An outside signal such as `talking=0.8`: clips tagged `talking` become more likely.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub tag: String,
    pub value: f64,
}

impl Signal {
    /// Parses `TAG=VALUE` with VALUE in [−1, 1].
    pub fn parse(text: &str) -> Result<Self, PlanError> {
        let bad = |why: &str| PlanError::InvalidSignal(text.to_string(), why.to_string());
        let (tag, value) = text
            .split_once('=')
            .ok_or_else(|| bad("expected TAG=VALUE, like talking=0.8"))?;
        let tag = tag.trim().to_lowercase();
        if tag.is_empty() {
            return Err(bad("the tag is empty"));
        }
        let value: f64 = value
            .trim()
            .parse()
            .map_err(|_| bad("the value is not a number"))?;
        if !(-1.0..=1.0).contains(&value) {
            return Err(bad("the value must be between -1 and 1"));
        }
        Ok(Signal { tag, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_form() {
        assert_eq!(parse_duration_ms("90").unwrap(), 90_000);
        assert_eq!(parse_duration_ms("90s").unwrap(), 90_000);
        assert_eq!(parse_duration_ms("30m").unwrap(), 1_800_000);
        assert_eq!(parse_duration_ms("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration_ms("2h").unwrap(), 7_200_000);
        assert_eq!(parse_duration_ms("1.5s").unwrap(), 1_500);
        assert_eq!(parse_duration_ms("250ms").unwrap(), 250);
        assert_eq!(parse_duration_ms("1m30s").unwrap(), 90_000);
        assert_eq!(parse_duration_ms("1s500ms").unwrap(), 1_500);
        assert_eq!(parse_duration_ms("2min").unwrap(), 120_000);
        assert_eq!(
            parse_duration_ms(" 1H 5S".replace(' ', "").as_str()).unwrap(),
            3_605_000
        );
    }

    #[test]
    fn bad_durations() {
        for bad in [
            "", "0", "0s", "-5", "-5s", "abc", "5x", "1.2345s", "h", "1..2s", "1h30", "1m30s30",
            "30s1m", "1m1m", "90s5", "5ms1s",
        ] {
            assert!(parse_duration_ms(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn crossfades() {
        let fps30 = Rational::new(30, 1).unwrap();
        assert_eq!(CrossfadeSpec::parse("9f").unwrap().frames_at(fps30), 9);
        assert_eq!(CrossfadeSpec::parse("0.3s").unwrap().frames_at(fps30), 9);
        assert_eq!(CrossfadeSpec::parse("0").unwrap().frames_at(fps30), 0);
        let ntsc = Rational::new(30000, 1001).unwrap();
        assert_eq!(CrossfadeSpec::parse("1s").unwrap().frames_at(ntsc), 30);
        assert!(CrossfadeSpec::parse("xf").is_err());
        assert!(CrossfadeSpec::parse("-1s").is_err());
    }

    #[test]
    fn frames_from_ms_round_up() {
        let ntsc = Rational::new(30000, 1001).unwrap();
        assert_eq!(ms_to_frames_ceil(60_000, ntsc), 1799);
        assert_eq!(
            ms_to_frames_ceil(60_000, Rational::new(30, 1).unwrap()),
            1800
        );
    }

    #[test]
    fn signals() {
        assert_eq!(
            Signal::parse("Talk=0.5").unwrap(),
            Signal {
                tag: "talk".into(),
                value: 0.5
            }
        );
        for bad in ["talk", "=1", "talk=2", "talk=-1.1", "talk=x", "talk=NaN"] {
            assert!(Signal::parse(bad).is_err(), "{bad}");
        }
    }
}
