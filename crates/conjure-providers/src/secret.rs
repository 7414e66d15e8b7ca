//! A string that must never be shown: API keys, API secrets, bearer tokens.
//!
//! [`Secret`] wraps the value so that every accidental route to a terminal or a log
//! (`{:?}`, `{}`, `tracing` fields, error messages built with `format!`) prints `****`.
//! [`Secret::expose`] is the only way to read the value, so every place that puts a credential
//! on the wire is easy to find with grep. It deliberately does not implement `Serialize`: a
//! secret must not end up in the journal or in `--json` output by way of a derive.
//!
//! This is not memory protection (no zeroing, no mlock); it guards against printing, not
//! against an attacker who can read the process.

use std::fmt;

/// A credential value. `Debug` and `Display` print `****`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The real value. Call it only where the value goes on the wire or into the secrets file.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2-value");
        assert_eq!(format!("{s:?}"), "****");
        assert_eq!(format!("{s}"), "****");
        assert_eq!(format!("{:#?}", Some(&s)), "Some(\n    ****,\n)");
        assert_eq!(s.expose(), "hunter2-value");
    }
}
