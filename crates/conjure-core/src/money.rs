//! Exact money: credits and dollars without binary floating point.
//!
//! Katana charges move in steps of 0.1 credit and reports balances as decimal strings, so
//! [`Credits`] counts integer tenths of a credit. Dollars are estimates derived from a
//! configurable [`CreditPrice`] and are held as integer micro-dollars in [`Usd`]. Nothing here
//! talks to a provider; parsing of wire values lives with the provider.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount of provider credits, in tenths of a credit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Credits(i64);

impl Credits {
    pub const ZERO: Credits = Credits(0);

    pub const fn from_tenths(tenths: i64) -> Self {
        Credits(tenths)
    }

    pub const fn whole(credits: i64) -> Self {
        Credits(credits * 10)
    }

    pub const fn tenths(self) -> i64 {
        self.0
    }

    /// Rounds a wire number (JSON numbers are floats) to the nearest tenth.
    pub fn from_f64(value: f64) -> Self {
        Credits((value * 10.0).round() as i64)
    }

    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 10.0
    }

    #[must_use]
    pub fn times(self, n: u32) -> Self {
        Credits(self.0 * i64::from(n))
    }
}

impl std::ops::Add for Credits {
    type Output = Credits;
    fn add(self, rhs: Credits) -> Credits {
        Credits(self.0 + rhs.0)
    }
}

impl std::ops::AddAssign for Credits {
    fn add_assign(&mut self, rhs: Credits) {
        self.0 += rhs.0;
    }
}

impl std::ops::Sub for Credits {
    type Output = Credits;
    fn sub(self, rhs: Credits) -> Credits {
        Credits(self.0 - rhs.0)
    }
}

impl std::iter::Sum for Credits {
    fn sum<I: Iterator<Item = Credits>>(iter: I) -> Credits {
        iter.fold(Credits::ZERO, |a, b| a + b)
    }
}

impl fmt::Display for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        if abs.is_multiple_of(10) {
            write!(f, "{sign}{}", abs / 10)
        } else {
            write!(f, "{sign}{}.{}", abs / 10, abs % 10)
        }
    }
}

/// Error for a decimal that is not an exact amount of money.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{input}` is not a valid amount: {reason}")]
pub struct MoneyError {
    pub input: String,
    pub reason: &'static str,
}

/// Parses an unsigned decimal into an integer count of `10^-scale` units, exactly.
fn parse_decimal(input: &str, scale: u32) -> Result<i64, MoneyError> {
    let err = |reason| MoneyError { input: input.to_owned(), reason };
    let s = input.trim();
    let s = s.strip_prefix('$').unwrap_or(s);
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return Err(err("expected a number such as `12.5`"));
    }
    if !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(err("expected a number such as `12.5`"));
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > scale as usize {
        return Err(err("too many decimal places"));
    }
    let int_value: i64 =
        if int.is_empty() { 0 } else { int.parse().map_err(|_| err("the number is too large"))? };
    let mut frac_value: i64 = if frac.is_empty() { 0 } else { frac.parse().unwrap_or(0) };
    frac_value *= 10_i64.pow(scale - frac.len() as u32);
    let value = int_value
        .checked_mul(10_i64.pow(scale))
        .and_then(|v| v.checked_add(frac_value))
        .ok_or_else(|| err("the number is too large"))?;
    Ok(if negative { -value } else { value })
}

impl FromStr for Credits {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_decimal(s, 1).map(Credits)
    }
}

impl Serialize for Credits {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Credits {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        f64::deserialize(deserializer).map(Credits::from_f64)
    }
}

/// US dollars in micro-dollars (1e-6 USD). Always an estimate derived from a credit price.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(i64);

impl Usd {
    pub const ZERO: Usd = Usd(0);

    pub const fn from_micros(micros: i64) -> Self {
        Usd(micros)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 1_000_000.0
    }
}

impl std::ops::Add for Usd {
    type Output = Usd;
    fn add(self, rhs: Usd) -> Usd {
        Usd(self.0 + rhs.0)
    }
}

impl fmt::Display for Usd {
    /// Four decimals: the smallest Katana charge (0.1 credit) is about $0.0005.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        // Round half up to 1e-4.
        let ten_thousandths = (abs + 50) / 100;
        write!(f, "{sign}${}.{:04}", ten_thousandths / 10_000, ten_thousandths % 10_000)
    }
}

impl FromStr for Usd {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_decimal(s, 6).map(Usd)
    }
}

impl Serialize for Usd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        f64::deserialize(deserializer).map(|v| Usd((v * 1_000_000.0).round() as i64))
    }
}

/// Dollars per credit, in micro-dollars per credit (the reference Katana price is `0.0052`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CreditPrice(i64);

impl CreditPrice {
    /// Katana's reference price (Platinum Annual): $0.0052 per credit.
    pub const KATANA_REFERENCE: CreditPrice = CreditPrice(5_200);

    pub const fn from_micros_per_credit(micros: i64) -> Self {
        CreditPrice(micros)
    }

    pub const fn micros_per_credit(self) -> i64 {
        self.0
    }

    /// The dollar value of `credits` at this price, rounded to the nearest micro-dollar.
    pub fn usd(self, credits: Credits) -> Usd {
        let micros = i128::from(credits.tenths()) * i128::from(self.0);
        Usd(((micros + 5) / 10) as i64)
    }
}

impl FromStr for CreditPrice {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let micros = parse_decimal(s, 6)?;
        if micros <= 0 {
            return Err(MoneyError { input: s.to_owned(), reason: "a price must be above zero" });
        }
        Ok(CreditPrice(micros))
    }
}

impl fmt::Display for CreditPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = format!("{}.{:06}", self.0 / 1_000_000, self.0 % 1_000_000);
        let s = s.trim_end_matches('0');
        write!(f, "${s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_parse_exactly() {
        assert_eq!("20814.0".parse::<Credits>().unwrap(), Credits::from_tenths(208_140));
        assert_eq!("38.5".parse::<Credits>().unwrap(), Credits::from_tenths(385));
        assert_eq!(".1".parse::<Credits>().unwrap(), Credits::from_tenths(1));
        assert!("0.25".parse::<Credits>().is_err());
        assert!("abc".parse::<Credits>().is_err());
        assert!("".parse::<Credits>().is_err());
    }

    #[test]
    fn credits_display_drops_zero_tenths() {
        assert_eq!(Credits::whole(14).to_string(), "14");
        assert_eq!(Credits::from_tenths(385).to_string(), "38.5");
        assert_eq!(Credits::from_tenths(-5).to_string(), "-0.5");
    }

    #[test]
    fn usd_from_credits_at_reference_price() {
        let p = CreditPrice::KATANA_REFERENCE;
        assert_eq!(p.usd(Credits::whole(14)).to_string(), "$0.0728");
        assert_eq!(p.usd(Credits::from_tenths(385)).to_string(), "$0.2002");
        assert_eq!(p.usd(Credits::whole(1350)).to_string(), "$7.0200");
    }

    #[test]
    fn price_parse_and_display() {
        let p: CreditPrice = "0.0047".parse().unwrap();
        assert_eq!(p.micros_per_credit(), 4_700);
        assert_eq!(p.to_string(), "$0.0047");
        assert!("0".parse::<CreditPrice>().is_err());
        assert!("0.0000001".parse::<CreditPrice>().is_err());
    }

    #[test]
    fn usd_parse() {
        assert_eq!("$1.50".parse::<Usd>().unwrap(), Usd::from_micros(1_500_000));
        assert_eq!("0.2".parse::<Usd>().unwrap(), Usd::from_micros(200_000));
    }
}
