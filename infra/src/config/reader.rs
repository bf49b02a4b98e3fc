//! How one key is read: trimmed text, flags, whole numbers and names, each refused with a
//! [`ConfigError::Invalid`] naming the key and what it accepts.
//!
//! What each key accepts is data ([`WholeKey`], [`NameKey`]) kept with its group in
//! [`super::checks`]; this module only applies it.

use std::ops::RangeInclusive;

use super::{ConfigError, ConfigSource};

/// A key holding a whole number.
pub(super) struct WholeKey {
    pub key: &'static str,
    pub range: RangeInclusive<u64>,
    /// The value when the key is unset.
    pub default: u64,
    /// What the error says the key accepts.
    pub expected: &'static str,
}

/// A key holding a name made of the characters `allowed` accepts.
pub(super) struct NameKey {
    pub key: &'static str,
    /// The value when the key is unset.
    pub default: &'static str,
    /// Bounds of the name's length in bytes.
    pub length: RangeInclusive<usize>,
    pub allowed: fn(char) -> bool,
    /// What the error says the key accepts.
    pub expected: &'static str,
}

/// Reads one key at a time, with its checks; `text` is the trimmed, non-empty value.
pub(super) struct Reader<'a> {
    pub source: &'a dyn ConfigSource,
}

impl Reader<'_> {
    pub fn text(&self, key: &str) -> Option<String> {
        self.source
            .get(key)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub fn flag(&self, key: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.text(key).as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(invalid(key, other, "true or false")),
        }
    }

    /// A whole number in the key's range, or its default when unset.
    pub fn whole(&self, spec: &WholeKey) -> Result<u64, ConfigError> {
        let Some(value) = self.text(spec.key) else {
            return Ok(spec.default);
        };
        match value.parse::<u64>() {
            Ok(n) if spec.range.contains(&n) => Ok(n),
            _ => Err(invalid(spec.key, &value, spec.expected)),
        }
    }

    /// The key's text when `accepts` it, `None` when unset.
    pub fn optional(
        &self,
        key: &'static str,
        accepts: impl Fn(&str) -> bool,
        expected: &'static str,
    ) -> Result<Option<String>, ConfigError> {
        match self.text(key) {
            Some(value) if !accepts(&value) => Err(invalid(key, &value, expected)),
            value => Ok(value),
        }
    }

    /// A name of the key's length and characters, or its default when unset.
    pub fn name(&self, spec: &NameKey) -> Result<String, ConfigError> {
        let value = self
            .text(spec.key)
            .unwrap_or_else(|| spec.default.to_string());
        if !spec.length.contains(&value.len()) || !value.chars().all(spec.allowed) {
            return Err(invalid(spec.key, &value, spec.expected));
        }
        Ok(value)
    }
}

pub(super) fn invalid(key: &'static str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: value.to_string(),
        expected,
    }
}

/// Letters, digits, `-` and `_`: stage and Lambda function names.
pub(super) fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// DynamoDB table and index names also take `.`.
pub(super) fn dynamodb_name_char(c: char) -> bool {
    name_char(c) || c == '.'
}

pub(super) fn hostname_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '.'
}
