//! Answering a page by replying to its SMS (GoAlert's pattern): each page to a number
//! carries a short code, `4`, and the reply `4a` acknowledges, `4r` resolves. Codes are
//! per phone number, so a reply only ever reaches a page that number was sent.
//!
//! What a reply means is decided here, without I/O: carrier keywords (STOP, HELP...) are
//! the carrier's and AWS's to answer and never act; anything that is not a code and an
//! action is answered with help.

use super::Action;
use super::sms::{self, SmsText};

/// Codes run 1..=99 per phone number, then start again at 1, skipping any code whose
/// page is not resolved yet: a code stands for one open page at a time, and is reused
/// only 99 pages later (a page that finds no free code carries its acknowledge link
/// instead).
pub const MAX_CODE: i16 = 99;

/// What an inbound SMS asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `4a`, `4 ack`, `A4`, `4r`, `resolve 4`...: the page with code `code`.
    Act { code: i16, action: Action },
    /// A keyword the carrier or AWS End User Messaging answers itself (STOP, HELP,
    /// START...): never an action, and Herald sends nothing back.
    CarrierKeyword,
    /// Anything else: answered with help, never acted on.
    Unrecognised,
}

/// The opt-out, opt-in and help keywords carriers and AWS End User Messaging SMS act
/// on (their defaults, and the common ones of US carriers). A message whose first word
/// is one of them is theirs.
const CARRIER_KEYWORDS: &[&str] = &[
    "ARRET",
    "CANCEL",
    "END",
    "HELP",
    "INFO",
    "OPTOUT",
    "OPT-OUT",
    "OPTIN",
    "OPT-IN",
    "QUIT",
    "REMOVE",
    "REVOKE",
    "START",
    "STOP",
    "STOPALL",
    "SUBSCRIBE",
    "TD",
    "UNSTOP",
    "UNSUBSCRIBE",
    "YES",
];

/// Reads an inbound SMS body. Whitespace, case and trailing punctuation are forgiven;
/// anything else must be exactly a code (1..=99) and an action word, either way round.
pub fn parse(body: &str) -> Reply {
    let first_word: String = body
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches(|c: char| c.is_ascii_punctuation() && c != '-')
        .to_ascii_uppercase();
    if CARRIER_KEYWORDS.contains(&first_word.as_str()) {
        return Reply::CarrierKeyword;
    }
    // At most two words: the code and the action, either way round, or both in one.
    let text = body
        .trim()
        .trim_end_matches(['.', '!', '?'])
        .to_ascii_lowercase();
    let words: Vec<&str> = text.split_whitespace().collect();
    let candidates: Vec<(&str, &str)> = match words.as_slice() {
        [one] => {
            let digits_first = one
                .find(|c: char| !c.is_ascii_digit())
                .map(|i| one.split_at(i));
            let letters_first = one.find(|c: char| c.is_ascii_digit()).map(|i| {
                let (word, code) = one.split_at(i);
                (code, word)
            });
            [digits_first, letters_first]
                .into_iter()
                .flatten()
                .collect()
        }
        [a, b] => vec![(*a, *b), (*b, *a)],
        _ => vec![],
    };
    for (code, word) in candidates {
        if let (Some(code), Some(action)) = (parse_code(code), parse_action(word)) {
            return Reply::Act { code, action };
        }
    }
    Reply::Unrecognised
}

fn parse_code(s: &str) -> Option<i16> {
    if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code: i16 = s.parse().ok()?;
    (1..=MAX_CODE).contains(&code).then_some(code)
}

fn parse_action(s: &str) -> Option<Action> {
    match s {
        "a" | "ack" | "acknowledge" => Some(Action::Acknowledge),
        "r" | "res" | "resolve" => Some(Action::Resolve),
        _ => None,
    }
}

/// The page's SMS when replies are on: `[CRITICAL] <title> Reply 4a to acknowledge, 4r
/// to resolve.`, the title cut so the whole text fits one segment.
pub fn page(priority_label: &str, title: &str, code: i16) -> SmsText {
    sms::fit(
        &format!("[{priority_label}] "),
        title,
        &format!(" Reply {code}a to acknowledge, {code}r to resolve."),
    )
}

/// Where a reply's escalation stands once it has been handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing<'a> {
    Acknowledged { by: Option<&'a str> },
    Resolved { by: Option<&'a str> },
}

/// What Herald answers to a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer<'a> {
    /// The reply did it.
    Done {
        action: Action,
        code: i16,
        title: &'a str,
    },
    /// Someone (maybe this person, earlier) was first; nothing changed.
    AlreadyDone {
        title: &'a str,
        standing: Standing<'a>,
    },
    /// No page to this number has that code (any more): nothing changed.
    UnknownCode(i16),
    /// Not a code and an action.
    Help,
    /// The reply reached Herald too late to act on (redelivered hours later).
    TooLate,
}

const HELP: &str =
    "Reply with the code in the page and a to acknowledge or r to resolve, e.g. 4a or 4r.";

/// The confirmation (or help) text, one GSM-7 segment when it can be.
pub fn answer(answer: &Answer<'_>) -> SmsText {
    match *answer {
        Answer::Done {
            action: Action::Acknowledge,
            code,
            title,
        } => sms::fit(
            "Herald: acknowledged \"",
            title,
            &format!("\". Reply {code}r to resolve."),
        ),
        Answer::Done {
            action: Action::Resolve,
            title,
            ..
        } => sms::fit("Herald: resolved \"", title, "\"."),
        Answer::AlreadyDone { title, standing } => {
            let (what, by) = match standing {
                Standing::Acknowledged { by } => ("acknowledged", by),
                Standing::Resolved { by } => ("resolved", by),
            };
            let by = by
                .map(|who| format!(" by {}", cut(who, 40)))
                .unwrap_or_default();
            sms::fit(
                "Herald: \"",
                title,
                &format!("\" was already {what}{by}. Nothing changed."),
            )
        }
        Answer::UnknownCode(code) => plain(format!(
            "Herald: no open page to this number has code {code}. {HELP}"
        )),
        Answer::Help => plain(format!("Herald: {HELP}")),
        Answer::TooLate => plain(
            "Herald: your reply reached Herald too late to act on, so nothing changed. If the page still stands, reply to it again."
                .to_owned(),
        ),
    }
}

fn plain(text: String) -> SmsText {
    sms::measured(text)
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let kept: String = s.chars().take(max.saturating_sub(3)).collect();
        // Not "…": one character outside GSM-7 would make the whole text UCS-2.
        format!("{}...", kept.trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn act(code: i16, action: Action) -> Reply {
        Reply::Act { code, action }
    }

    #[test]
    fn a_code_and_an_action_in_either_order() {
        use Action::*;
        for (body, reply) in [
            ("1a", act(1, Acknowledge)),
            ("1A", act(1, Acknowledge)),
            (" 12 a ", act(12, Acknowledge)),
            ("4 ack", act(4, Acknowledge)),
            ("4acknowledge.", act(4, Acknowledge)),
            ("a4", act(4, Acknowledge)),
            ("Ack 7!", act(7, Acknowledge)),
            ("1r", act(1, Resolve)),
            ("99 resolve", act(99, Resolve)),
            ("res 3", act(3, Resolve)),
            ("R1", act(1, Resolve)),
            ("01a", act(1, Acknowledge)),
        ] {
            assert_eq!(parse(body), reply, "{body:?}");
        }
    }

    #[test]
    fn anything_else_is_help() {
        for body in [
            "",
            "a",
            "1",
            "0a",
            "100a",
            "1x",
            "1ar",
            "1 a 2",
            "yes 1a",
            "ok",
            "1a1",
            "¹a",
            "١a",
            "1a please",
        ] {
            let reply = parse(body);
            assert!(
                reply == Reply::Unrecognised || reply == Reply::CarrierKeyword,
                "{body:?} -> {reply:?}"
            );
            assert_ne!(
                reply,
                act(1, Action::Acknowledge),
                "{body:?} must never act"
            );
        }
        assert_eq!(parse("ok"), Reply::Unrecognised);
    }

    #[test]
    fn carrier_keywords_are_never_actions() {
        for body in [
            "STOP",
            "stop",
            "Stop.",
            "STOP 1a",
            "HELP",
            "help 1r",
            "UNSUBSCRIBE",
            "start",
            "opt-out",
            "Quit!",
        ] {
            assert_eq!(parse(body), Reply::CarrierKeyword, "{body:?}");
        }
    }

    #[test]
    fn the_page_names_both_replies_in_one_segment() {
        let title = "Primary database CPU above 95% on every replica of the orders cluster in eu-west-1 since 03:12 and climbing";
        let text = page("CRITICAL", title, 42);
        assert_eq!(text.segments, 1, "{text:?}");
        assert!(text.text.starts_with("[CRITICAL] Primary database"));
        assert!(
            text.text
                .ends_with(" Reply 42a to acknowledge, 42r to resolve.")
        );
    }

    #[test]
    fn answers_say_what_happened() {
        let title = "Primary database CPU above 95%";
        let done = answer(&Answer::Done {
            action: Action::Acknowledge,
            code: 3,
            title,
        });
        assert_eq!(
            done.text,
            "Herald: acknowledged \"Primary database CPU above 95%\". Reply 3r to resolve."
        );
        let resolved = answer(&Answer::Done {
            action: Action::Resolve,
            code: 3,
            title,
        });
        assert_eq!(
            resolved.text,
            "Herald: resolved \"Primary database CPU above 95%\"."
        );
        let already = answer(&Answer::AlreadyDone {
            title,
            standing: Standing::Acknowledged {
                by: Some("Bob Stone"),
            },
        });
        assert_eq!(
            already.text,
            "Herald: \"Primary database CPU above 95%\" was already acknowledged by Bob Stone. Nothing changed."
        );
        assert!(
            answer(&Answer::UnknownCode(7))
                .text
                .contains("no open page to this number has code 7")
        );
        for a in [Answer::UnknownCode(99), Answer::Help, Answer::TooLate] {
            assert_eq!(answer(&a).segments, 1, "{a:?}");
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_acts_only_on_a_code_and_a_word(body in "\\PC{0,40}") {
            if let Reply::Act { code, .. } = parse(&body) {
                prop_assert!((1..=MAX_CODE).contains(&code));
                let first = body.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                prop_assert!(!first.starts_with("STOP"));
            }
        }

        #[test]
        fn answers_fit_one_segment_when_gsm7_can_carry_them(title in "[ -_a-~]{0,200}", who in "[ -_a-~]{0,80}") {
            let a = Answer::AlreadyDone { title: &title, standing: Standing::Resolved { by: Some(&who) } };
            prop_assert_eq!(answer(&a).segments, 1);
            let d = Answer::Done { action: Action::Acknowledge, code: 99, title: &title };
            prop_assert_eq!(answer(&d).segments, 1);
        }
    }
}
