//! App ID and App Certificate: 32 hex characters each, used by Agora as literal ASCII bytes.

use std::fmt;

/// Why an App ID or certificate was refused. Never echoes the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("is empty")]
    Empty,
    #[error("must be exactly 32 characters (got {0})")]
    Length(usize),
    #[error("must contain only hexadecimal characters 0-9 a-f A-F")]
    NotHex,
}

fn check(value: &str) -> Result<(), CredentialError> {
    if value.is_empty() {
        return Err(CredentialError::Empty);
    }
    if value.len() != 32 {
        return Err(CredentialError::Length(value.chars().count()));
    }
    if !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CredentialError::NotHex);
    }
    Ok(())
}

/// An Agora App ID (public). Case is kept: Agora signs the literal characters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AppId(String);

impl AppId {
    pub fn new(value: impl Into<String>) -> Result<Self, CredentialError> {
        let value = value.into();
        check(&value)?;
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AppId").field(&self.0).finish()
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An Agora App Certificate (secret). `Debug` never shows it and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct AppCertificate(String);

impl AppCertificate {
    pub fn new(value: impl Into<String>) -> Result<Self, CredentialError> {
        let value = value.into();
        check(&value)?;
        Ok(Self(value))
    }

    /// The certificate's bytes, as Agora feeds them to HMAC.
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for AppCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppCertificate(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_32_hex_of_either_case() {
        assert!(AppId::new("970CA35de60c44645bbae8a215061b33").is_ok());
        assert!(AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b").is_ok());
    }

    #[test]
    fn refuses_the_rest_without_echoing() {
        assert_eq!(AppId::new(""), Err(CredentialError::Empty));
        assert_eq!(AppId::new("abc"), Err(CredentialError::Length(3)));
        assert_eq!(
            AppId::new("g70CA35de60c44645bbae8a215061b33"),
            Err(CredentialError::NotHex)
        );
        let cert = AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b").unwrap();
        assert!(!format!("{cert:?}").contains("5CFd"));
    }
}
