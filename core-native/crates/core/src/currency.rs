//! ISO 4217: every active currency code with its minor-unit exponent, and the per-currency amount
//! bounds. Mirrored in `src/currency.ts` (a test checks both tables are equal).
//!
//! Not listed: codes without a minor unit (XAU, XAG, XPT, XPD, XDR, XSU, XUA, XBA..XBD, XTS, XXX)
//! and withdrawn codes (HRK, SLL, ANG, ZWL, VEF, MRO, STD, CUC, LTL, LVL, EEK).

/// (code, exponent) sorted by code, so lookup is a binary search.
#[rustfmt::skip]
pub const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2), ("AFN", 2), ("ALL", 2), ("AMD", 2), ("AOA", 2), ("ARS", 2), ("AUD", 2), ("AWG", 2),
    ("AZN", 2), ("BAM", 2), ("BBD", 2), ("BDT", 2), ("BGN", 2), ("BHD", 3), ("BIF", 0), ("BMD", 2),
    ("BND", 2), ("BOB", 2), ("BOV", 2), ("BRL", 2), ("BSD", 2), ("BTN", 2), ("BWP", 2), ("BYN", 2),
    ("BZD", 2), ("CAD", 2), ("CDF", 2), ("CHE", 2), ("CHF", 2), ("CHW", 2), ("CLF", 4), ("CLP", 0),
    ("CNY", 2), ("COP", 2), ("COU", 2), ("CRC", 2), ("CUP", 2), ("CVE", 2), ("CZK", 2), ("DJF", 0),
    ("DKK", 2), ("DOP", 2), ("DZD", 2), ("EGP", 2), ("ERN", 2), ("ETB", 2), ("EUR", 2), ("FJD", 2),
    ("FKP", 2), ("GBP", 2), ("GEL", 2), ("GHS", 2), ("GIP", 2), ("GMD", 2), ("GNF", 0), ("GTQ", 2),
    ("GYD", 2), ("HKD", 2), ("HNL", 2), ("HTG", 2), ("HUF", 2), ("IDR", 2), ("ILS", 2), ("INR", 2),
    ("IQD", 3), ("IRR", 2), ("ISK", 0), ("JMD", 2), ("JOD", 3), ("JPY", 0), ("KES", 2), ("KGS", 2),
    ("KHR", 2), ("KMF", 0), ("KPW", 2), ("KRW", 0), ("KWD", 3), ("KYD", 2), ("KZT", 2), ("LAK", 2),
    ("LBP", 2), ("LKR", 2), ("LRD", 2), ("LSL", 2), ("LYD", 3), ("MAD", 2), ("MDL", 2), ("MGA", 2),
    ("MKD", 2), ("MMK", 2), ("MNT", 2), ("MOP", 2), ("MRU", 2), ("MUR", 2), ("MVR", 2), ("MWK", 2),
    ("MXN", 2), ("MXV", 2), ("MYR", 2), ("MZN", 2), ("NAD", 2), ("NGN", 2), ("NIO", 2), ("NOK", 2),
    ("NPR", 2), ("NZD", 2), ("OMR", 3), ("PAB", 2), ("PEN", 2), ("PGK", 2), ("PHP", 2), ("PKR", 2),
    ("PLN", 2), ("PYG", 0), ("QAR", 2), ("RON", 2), ("RSD", 2), ("RUB", 2), ("RWF", 0), ("SAR", 2),
    ("SBD", 2), ("SCR", 2), ("SDG", 2), ("SEK", 2), ("SGD", 2), ("SHP", 2), ("SLE", 2), ("SOS", 2),
    ("SRD", 2), ("SSP", 2), ("STN", 2), ("SVC", 2), ("SYP", 2), ("SZL", 2), ("THB", 2), ("TJS", 2),
    ("TMT", 2), ("TND", 3), ("TOP", 2), ("TRY", 2), ("TTD", 2), ("TWD", 2), ("TZS", 2), ("UAH", 2),
    ("UGX", 0), ("USD", 2), ("USN", 2), ("UYI", 0), ("UYU", 2), ("UYW", 4), ("UZS", 2), ("VED", 2),
    ("VES", 2), ("VND", 0), ("VUV", 0), ("WST", 2), ("XAF", 0), ("XCD", 2), ("XCG", 2), ("XOF", 0),
    ("XPF", 0), ("YER", 2), ("ZAR", 2), ("ZMW", 2), ("ZWG", 2),
];

/// Default upper bound for an amount in minor units (the original's 100,000,000: $1,000,000 in cents).
pub const DEFAULT_MAX_MINOR: u64 = 100_000_000;

/// Currencies whose minor unit is worth so little that the default bound would reject ordinary
/// payments (100,000,000 IDR minor units is about 60 USD); they get [`HIGH_NOMINAL_MAX_MINOR`].
pub const HIGH_NOMINAL: &[&str] = &[
    "COP", "GNF", "IDR", "IRR", "KHR", "KPW", "LAK", "LBP", "MGA", "MMK", "MNT", "PYG", "SLE",
    "SOS", "SYP", "TZS", "UGX", "UZS", "VES", "VND",
];
pub const HIGH_NOMINAL_MAX_MINOR: u64 = 1_000_000_000_000;

/// Largest bound a configuration may set: amounts must stay exact in a JavaScript number.
pub const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

/// Returns the static code and its exponent for an uppercase 3-letter code.
pub fn lookup(code: &str) -> Option<(&'static str, u8)> {
    CURRENCIES
        .binary_search_by(|(c, _)| (*c).cmp(code))
        .ok()
        .map(|i| CURRENCIES[i])
}

/// Index of a currency in [`CURRENCIES`] (used for per-currency bounds tables).
pub fn index_of(code: &str) -> Option<usize> {
    CURRENCIES.binary_search_by(|(c, _)| (*c).cmp(code)).ok()
}

/// Per-currency maximum amounts; built once from the defaults plus configuration overrides.
#[derive(Clone, Debug)]
pub struct AmountBounds {
    max_minor: Vec<u64>,
}

impl Default for AmountBounds {
    fn default() -> Self {
        let max_minor = CURRENCIES
            .iter()
            .map(|(c, _)| {
                if HIGH_NOMINAL.contains(c) {
                    HIGH_NOMINAL_MAX_MINOR
                } else {
                    DEFAULT_MAX_MINOR
                }
            })
            .collect();
        AmountBounds { max_minor }
    }
}

impl AmountBounds {
    /// Applies overrides `(code, max_minor)`; an unknown code or a bound above 2^53−1 is an error.
    pub fn with_overrides(overrides: &[(String, u64)]) -> Result<Self, String> {
        let mut b = AmountBounds::default();
        for (code, max) in overrides {
            let i = index_of(code)
                .ok_or_else(|| format!("amount bound for unknown currency {code:?}"))?;
            if *max > MAX_SAFE_INTEGER {
                return Err(format!("amount bound for {code} exceeds 2^53-1"));
            }
            b.max_minor[i] = *max;
        }
        Ok(b)
    }

    pub fn max_for(&self, code: &str) -> u64 {
        index_of(code)
            .map(|i| self.max_minor[i])
            .unwrap_or(DEFAULT_MAX_MINOR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for w in CURRENCIES.windows(2) {
            assert!(w[0].0 < w[1].0, "{} before {}", w[0].0, w[1].0);
        }
        assert!(CURRENCIES.len() > 150);
    }

    #[test]
    fn exponents() {
        assert_eq!(lookup("USD"), Some(("USD", 2)));
        assert_eq!(lookup("JPY"), Some(("JPY", 0)));
        assert_eq!(lookup("KWD"), Some(("KWD", 3)));
        assert_eq!(lookup("CLF"), Some(("CLF", 4)));
        assert_eq!(lookup("XYZ"), None);
        assert_eq!(lookup("usd"), None);
        for c in HIGH_NOMINAL {
            assert!(lookup(c).is_some(), "{c}");
        }
    }

    #[test]
    fn overrides() {
        let b = AmountBounds::with_overrides(&[("USD".into(), 5)]).unwrap();
        assert_eq!(b.max_for("USD"), 5);
        assert_eq!(b.max_for("EUR"), DEFAULT_MAX_MINOR);
        assert_eq!(b.max_for("IDR"), HIGH_NOMINAL_MAX_MINOR);
        assert!(AmountBounds::with_overrides(&[("XXX".into(), 5)]).is_err());
        assert!(AmountBounds::with_overrides(&[("USD".into(), MAX_SAFE_INTEGER + 1)]).is_err());
    }
}
