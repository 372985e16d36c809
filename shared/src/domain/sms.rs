//! SMS text that fits one segment when it can. A GSM-7 segment holds 160 characters
//! (the extension characters `^{}\[~]|€` take two); a text with any other character is
//! sent as UCS-2, 70 UTF-16 units a segment. Concatenated messages lose 7 (GSM-7) or 3
//! (UCS-2) units a segment to the header.

/// How a text travels, and what it costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        }
    }

    fn single(self) -> usize {
        match self {
            Encoding::Gsm7 => 160,
            Encoding::Ucs2 => 70,
        }
    }

    fn per_part(self) -> usize {
        match self {
            Encoding::Gsm7 => 153,
            Encoding::Ucs2 => 67,
        }
    }
}

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{c}";

/// Units `c` takes in GSM-7, or `None` if GSM-7 cannot carry it.
fn gsm7_units(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The encoding `text` needs and its length in that encoding's units.
pub fn measure(text: &str) -> (Encoding, usize) {
    let gsm: Option<usize> = text.chars().map(gsm7_units).sum();
    match gsm {
        Some(units) => (Encoding::Gsm7, units),
        None => (Encoding::Ucs2, text.encode_utf16().count()),
    }
}

/// Segments a text of `units` takes in `encoding`.
pub fn segments(encoding: Encoding, units: usize) -> usize {
    if units <= encoding.single() {
        1
    } else {
        units.div_ceil(encoding.per_part())
    }
}

/// A composed SMS and what it costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsText {
    pub text: String,
    pub encoding: Encoding,
    pub units: usize,
    pub segments: usize,
}

/// `"[CRITICAL] <title> Ack: <link>"`, the title cut (with `…`, or `...` in GSM-7) so
/// the whole text fits one segment. If even an empty title would not fit (a UCS-2 title
/// beside a long link), the title is cut to fit two segments instead: the link always
/// arrives whole.
pub fn compose(priority_label: &str, title: &str, link_label: &str, link: &str) -> SmsText {
    fit(
        &format!("[{priority_label}] "),
        title,
        &format!(" {link_label}: {link}"),
    )
}

/// A text already known to be short, measured.
pub fn measured(text: String) -> SmsText {
    let (encoding, units) = measure(&text);
    SmsText {
        segments: segments(encoding, units),
        text,
        encoding,
        units,
    }
}

/// `before`, the title and `after`, the title (its whitespace collapsed) cut as
/// [`compose`] cuts it: `before` and `after` always arrive whole.
pub fn fit(before: &str, title: &str, after: &str) -> SmsText {
    let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
    let build = |t: &str| format!("{before}{t}{after}");
    let whole = measured(build(&title));
    if whole.segments == 1 {
        return whole;
    }
    let encoding = whole.encoding;
    let ellipsis = match encoding {
        Encoding::Gsm7 => "...",
        Encoding::Ucs2 => "…",
    };
    let (_, fixed) = measure(&build(ellipsis));
    let budget = if fixed <= encoding.single() {
        encoding.single()
    } else {
        2 * encoding.per_part()
    };
    let unit_len = |c: char| match encoding {
        Encoding::Gsm7 => gsm7_units(c).unwrap_or(1),
        Encoding::Ucs2 => c.len_utf16(),
    };
    let room = budget.saturating_sub(fixed);
    let mut kept = String::new();
    let mut used = 0;
    for c in title.chars() {
        if used + unit_len(c) > room {
            break;
        }
        used += unit_len(c);
        kept.push(c);
    }
    measured(build(&format!("{}{ellipsis}", kept.trim_end())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LINK: &str = "https://alerts.example.com/l/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";

    #[test]
    fn plain_ascii_is_gsm7_and_extension_characters_count_twice() {
        assert_eq!(measure("hello"), (Encoding::Gsm7, 5));
        assert_eq!(measure("a[b]"), (Encoding::Gsm7, 6));
        assert_eq!(measure("€"), (Encoding::Gsm7, 2));
    }

    #[test]
    fn any_other_character_needs_ucs2() {
        assert_eq!(measure("CPU 🔥"), (Encoding::Ucs2, 6));
        assert_eq!(measure("データベース"), (Encoding::Ucs2, 6));
    }

    #[test]
    fn a_short_title_is_kept_whole_in_one_segment() {
        let sms = compose("CRITICAL", "DB down", "Ack", LINK);
        assert_eq!(sms.text, format!("[CRITICAL] DB down Ack: {LINK}"));
        assert_eq!((sms.encoding, sms.segments), (Encoding::Gsm7, 1));
    }

    #[test]
    fn a_long_title_is_cut_to_one_gsm7_segment() {
        let title = "Primary database CPU above 95% on every replica of the orders cluster in eu-west-1 since 03:12";
        let sms = compose("CRITICAL", title, "Ack", LINK);
        assert_eq!(sms.segments, 1, "{sms:?}");
        assert!(sms.units <= 160);
        assert!(sms.text.contains("..."));
        assert!(sms.text.ends_with(LINK));
    }

    #[test]
    fn a_ucs2_title_keeps_the_link_whole_in_two_segments() {
        let sms = compose("HIGH", &"データベース障害".repeat(10), "Ack", LINK);
        assert_eq!(sms.encoding, Encoding::Ucs2);
        assert!(sms.segments <= 2, "{sms:?}");
        assert!(sms.text.ends_with(LINK));
    }

    proptest! {
        #[test]
        fn the_link_always_survives_and_the_text_stays_short(title in "\\PC{0,300}") {
            let sms = compose("LOW", &title, "Ack", LINK);
            prop_assert!(sms.text.ends_with(LINK));
            prop_assert!(sms.segments <= 2, "{:?}", sms);
            prop_assert_eq!(measure(&sms.text), (sms.encoding, sms.units));
        }
    }
}
