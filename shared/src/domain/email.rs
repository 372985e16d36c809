use std::fmt;

/// An email address that passed RFC 5321/5322 parsing and length limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Longest address SMTP can carry (RFC 5321 path limit).
    const MAX_LEN: usize = 254;

    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.len() > Self::MAX_LEN {
            return Err(format!("longer than {} characters", Self::MAX_LEN));
        }
        // Reject display-name forms ("Alice <a@b>"): Herald wants a bare address.
        if s.contains(['<', '>', ' ']) {
            return Err("must be a bare address like alice@example.com".into());
        }
        let parsed: email_address::EmailAddress = s
            .parse()
            .map_err(|e| format!("not a valid email address: {e}"))?;
        if !parsed.domain().contains('.') {
            return Err("the domain must be fully qualified".into());
        }
        Ok(Self(parsed.as_str().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_address_is_accepted() {
        assert_eq!(
            EmailAddress::parse("alice@example.com").map(|e| e.0),
            Ok("alice@example.com".to_owned())
        );
    }

    #[test]
    fn address_without_at_is_rejected() {
        assert!(EmailAddress::parse("alice.example.com").is_err());
    }

    #[test]
    fn empty_address_is_rejected() {
        assert!(EmailAddress::parse("").is_err());
    }

    #[test]
    fn display_name_form_is_rejected() {
        assert!(EmailAddress::parse("Alice <alice@example.com>").is_err());
    }

    #[test]
    fn unqualified_domain_is_rejected() {
        assert!(EmailAddress::parse("root@localhost").is_err());
    }

    #[test]
    fn overlong_address_is_rejected() {
        let local = "a".repeat(64);
        let domain = format!("{}.com", "b".repeat(200));
        assert!(EmailAddress::parse(&format!("{local}@{domain}")).is_err());
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in "\\PC*") {
            let _ = EmailAddress::parse(&s);
        }

        #[test]
        fn strings_without_at_are_never_addresses(s in "[^@]*") {
            prop_assert!(EmailAddress::parse(&s).is_err());
        }
    }
}
