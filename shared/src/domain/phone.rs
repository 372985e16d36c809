use std::fmt;

/// A phone number in E.164 form (`+14155550101`), checked against the numbering plan.
/// SNS does not validate numbers, so Herald must.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneE164(String);

impl PhoneE164 {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let digits = s
            .strip_prefix('+')
            .ok_or("must be in E.164 form, starting with + and the country code")?;
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be in E.164 form: + followed by at most 15 digits".into());
        }
        let number = phonenumber::parse(None, s).map_err(|e| format!("not a phone number: {e}"))?;
        if !phonenumber::is_valid(&number) {
            return Err("not a valid number in its country's numbering plan".into());
        }
        Ok(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// A number read back from the store. Only numbers that passed [`PhoneE164::parse`]
    /// are ever written there (and a CHECK constraint holds the E.164 shape), so the
    /// shape is checked again and nothing more: the numbering plan's metadata (over a
    /// megabyte) stays out of every dispatcher binary.
    pub fn from_stored(s: &str) -> Option<Self> {
        let digits = s.strip_prefix('+')?;
        let shaped = (7..=15).contains(&digits.len())
            && !digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit());
        shaped.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneE164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_stored_number_needs_only_its_shape() {
        assert!(PhoneE164::from_stored("+14155550101").is_some());
        for bad in ["14155550101", "+0123456789", "+1 415", "+123", ""] {
            assert!(PhoneE164::from_stored(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn e164_number_is_accepted() {
        assert_eq!(
            PhoneE164::parse("+14155550101").map(|p| p.0),
            Ok("+14155550101".to_owned())
        );
        assert!(PhoneE164::parse("+33612345678").is_ok());
    }

    #[test]
    fn phone_without_plus_is_rejected() {
        assert!(PhoneE164::parse("14155550101").is_err());
    }

    #[test]
    fn phone_with_spaces_is_rejected() {
        assert!(PhoneE164::parse("+1 415 555 0101").is_err());
    }

    #[test]
    fn impossible_number_is_rejected() {
        assert!(PhoneE164::parse("+1234").is_err());
        assert!(PhoneE164::parse("+999999999999").is_err());
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in "\\PC*") {
            let _ = PhoneE164::parse(&s);
        }

        #[test]
        fn accepted_numbers_are_plus_and_digits(s in "\\+[0-9]{1,16}") {
            if let Ok(p) = PhoneE164::parse(&s) {
                prop_assert!(p.as_str().starts_with('+'));
                prop_assert!(p.as_str()[1..].bytes().all(|b| b.is_ascii_digit()));
            }
        }
    }
}
