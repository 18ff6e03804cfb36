//! What may not be stored is taken out of the unified event here (mirrored in `src/redact.ts`).
//!
//! NUL: U+0000 in a free-text value becomes U+FFFD. A NUL carries no meaning in text, and
//! PostgreSQL's `text` and `jsonb` cannot hold it: an event carrying one was refused by the
//! database and lost (issue 13). It is replaced where the unified event is made, so every store
//! reading `payments.normalized` (rows, the lake, features) gets the same storable value; the raw
//! topic keeps the original bytes.

use std::borrow::Cow;

/// A free-text value as the unified event carries it.
pub fn clean_text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{fffd}"))
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_becomes_the_replacement_character() {
        assert_eq!(clean_text("a\0b\0"), "a\u{fffd}b\u{fffd}");
        assert!(matches!(clean_text("plain"), Cow::Borrowed(_)));
    }
}
