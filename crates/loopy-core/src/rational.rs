//! Exact frame rates. Rates such as 30000/1001 must stay exact so that hours of
//! re-timed video land on the planned frame count, so they are never kept as floats.

use crate::error::PlanError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A positive rational number, always stored in lowest terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rational {
    num: u64,
    den: u64,
}

/// Greatest common divisor by Stein's binary method: shifts and subtractions only,
/// since 128-bit division is slow and timelines reduce a fraction per placed clip.
pub(crate) fn gcd(mut a: u128, mut b: u128) -> u128 {
    if a == 0 || b == 0 {
        return a | b;
    }
    let shift = (a | b).trailing_zeros();
    a >>= a.trailing_zeros();
    loop {
        b >>= b.trailing_zeros();
        if a > b {
            std::mem::swap(&mut a, &mut b);
        }
        b -= a;
        if b == 0 {
            return a << shift;
        }
    }
}

impl Rational {
    /// Builds `num/den` in lowest terms; `None` for a zero numerator or denominator.
    pub fn new(num: u64, den: u64) -> Option<Self> {
        if num == 0 || den == 0 {
            return None;
        }
        let g = gcd(num as u128, den as u128) as u64;
        Some(Self {
            num: num / g,
            den: den / g,
        })
    }

    /// 1/1: square pixels, no change.
    pub const ONE: Rational = Rational { num: 1, den: 1 };

    pub fn is_one(&self) -> bool {
        *self == Rational::ONE
    }

    /// For serde defaults.
    pub fn one() -> Rational {
        Rational::ONE
    }

    /// 1 / self.
    pub fn inverse(&self) -> Rational {
        Rational {
            num: self.den,
            den: self.num,
        }
    }

    pub fn num(&self) -> u64 {
        self.num
    }

    pub fn den(&self) -> u64 {
        self.den
    }

    pub fn as_f64(&self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// How long `frames` frames last at this rate, in seconds.
    pub fn seconds(&self, frames: u64) -> f64 {
        frames as f64 * self.den as f64 / self.num as f64
    }
}

impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

impl FromStr for Rational {
    type Err = PlanError;

    /// Accepts `30`, `29.97` (taken literally as 2997/100) and `30000/1001`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| PlanError::InvalidRate(text.to_string(), why.to_string());
        let text_trim = text.trim();
        let (num, den) = if let Some((n, d)) = text_trim.split_once('/') {
            let n: u64 = n
                .trim()
                .parse()
                .map_err(|_| bad("numerator is not a whole number"))?;
            let d: u64 = d
                .trim()
                .parse()
                .map_err(|_| bad("denominator is not a whole number"))?;
            (n, d)
        } else if let Some((int, frac)) = text_trim.split_once('.') {
            if frac.len() > 6 || !frac.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad("use at most 6 decimals, or a fraction like 30000/1001"));
            }
            let scale = 10u64.pow(frac.len() as u32);
            let int: u64 = if int.is_empty() {
                0
            } else {
                int.parse().map_err(|_| bad("not a number"))?
            };
            let frac: u64 = if frac.is_empty() {
                0
            } else {
                frac.parse().map_err(|_| bad("not a number"))?
            };
            let num = int
                .checked_mul(scale)
                .and_then(|v| v.checked_add(frac))
                .ok_or_else(|| bad("too large"))?;
            (num, scale)
        } else {
            (text_trim.parse().map_err(|_| bad("not a number"))?, 1)
        };
        if num > 0 && den > 0 && num as f64 / den as f64 > 1000.0 {
            return Err(bad("frame rates above 1000 are not supported"));
        }
        Rational::new(num, den).ok_or_else(|| bad("must be greater than zero"))
    }
}

impl TryFrom<String> for Rational {
    type Error = PlanError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Rational> for String {
    fn from(value: Rational) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        assert_eq!(
            "30".parse::<Rational>().unwrap(),
            Rational::new(30, 1).unwrap()
        );
        assert_eq!(
            "30000/1001".parse::<Rational>().unwrap().to_string(),
            "30000/1001"
        );
        assert_eq!("60/2".parse::<Rational>().unwrap().to_string(), "30");
        assert_eq!("29.97".parse::<Rational>().unwrap().to_string(), "2997/100");
        assert_eq!(
            "23.976".parse::<Rational>().unwrap().to_string(),
            "2997/125"
        );
    }

    #[test]
    fn gcd_agrees_with_euclid() {
        let euclid = |mut a: u128, mut b: u128| {
            while b != 0 {
                (a, b) = (b, a % b);
            }
            a
        };
        for (a, b) in [
            (0, 5),
            (5, 0),
            (12, 18),
            (30000, 1001),
            (1 << 70, 3 << 40),
            (97, 89),
        ] {
            assert_eq!(gcd(a, b), euclid(a, b), "{a} {b}");
        }
    }

    #[test]
    fn rejects_nonsense() {
        for bad in ["0", "-30", "abc", "30/0", "", "1e3", "5000"] {
            assert!(bad.parse::<Rational>().is_err(), "{bad} should be rejected");
        }
    }
}
