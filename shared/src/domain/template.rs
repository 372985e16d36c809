//! A tenant's own message templates, per channel: an email's subject, text and HTML; an
//! SMS; a push notification's title and body; what a voice call says. Written in
//! MiniJinja (Jinja2's syntax, sandboxed: no file, network or environment access, a fuel
//! limit on every render), checked when saved:
//! - syntax errors and unknown variables are refused naming the field and the variable
//!   ([`VARIABLES`] is the whole list);
//! - an SMS template rendered with a realistic page must fit [`SMS_SEGMENT_BUDGET`]
//!   segments.
//!
//! Without a template a channel sends Herald's default message (today's), and a stored
//! template that fails at send time (a page far longer than the sample) falls back to it:
//! a page is never lost to a template.

use std::collections::BTreeSet;

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

use super::Channel;
use super::sms;

/// Every variable a template may use, and what it holds.
pub const VARIABLES: &[(&str, &str)] = &[
    ("title", "the escalation's title"),
    ("body", "its body (may be empty)"),
    ("priority", "CRITICAL, HIGH, MEDIUM, LOW or INFO"),
    ("service", "the service it is about, or none"),
    ("team", "the team it is for, or none"),
    ("alert_count", "how many alerts it groups"),
    (
        "triggered_at",
        "when it started, e.g. 2026-12-07 03:12:00 UTC",
    ),
    ("dashboard_url", "its dashboard link, or none"),
    ("escalation_id", "its id"),
    ("recipient_name", "the person's name, or none"),
    (
        "acknowledge_url",
        "the one-time acknowledge link (none on a voice call)",
    ),
    (
        "resolve_url",
        "the one-time resolve link (none on an SMS or a call)",
    ),
    (
        "reply_acknowledge",
        "SMS with reply codes: what to reply to acknowledge, e.g. 4a; else none",
    ),
    (
        "reply_resolve",
        "SMS with reply codes: what to reply to resolve, e.g. 4r; else none",
    ),
];

/// The most segments an SMS template may take with a realistic page (Herald's own texts
/// take one, two at most).
pub const SMS_SEGMENT_BUDGET: usize = 2;

/// The longest a template field may be, in bytes.
pub const MAX_FIELD_BYTES: usize = 20_000;
/// The HTML part may be longer.
pub const MAX_HTML_BYTES: usize = 100_000;

/// Instructions one render may run: plenty for any message, a stop for a runaway loop.
const FUEL: u64 = 50_000;

/// The channels that take templates (Slack and Teams messages are structured: blocks and
/// cards; the in-app inbox shows the escalation itself).
pub const TEMPLATED: &[Channel] = &[Channel::Email, Channel::Sms, Channel::Push, Channel::Voice];

/// A template as stored (and as the API takes it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "subject": "[{{ priority }}] {{ title }}",
    "text": "{{ title }}\n\n{{ body }}"
}))]
pub struct Fields {
    /// Email: the subject (required). Push: the title (default: Herald's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The message: an email's text part, the SMS, the push body, what the call says.
    pub text: String,
    /// Email only: the HTML part (without it the email is sent as text only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

/// Why a template was refused: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// What a template is rendered with: one page for one person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page<'a> {
    pub title: &'a str,
    pub body: &'a str,
    pub priority: &'a str,
    pub service: Option<&'a str>,
    pub team: Option<&'a str>,
    pub alert_count: i32,
    pub triggered_at: String,
    pub dashboard_url: Option<&'a str>,
    pub escalation_id: String,
    pub recipient_name: Option<&'a str>,
    pub acknowledge_url: Option<&'a str>,
    pub resolve_url: Option<&'a str>,
    pub reply_code: Option<i16>,
}

impl Page<'_> {
    fn context(&self) -> Value {
        minijinja::context! {
            title => self.title,
            body => self.body,
            priority => self.priority,
            service => self.service,
            team => self.team,
            alert_count => self.alert_count,
            triggered_at => self.triggered_at.as_str(),
            dashboard_url => self.dashboard_url,
            escalation_id => self.escalation_id.as_str(),
            recipient_name => self.recipient_name,
            acknowledge_url => self.acknowledge_url,
            resolve_url => self.resolve_url,
            reply_acknowledge => self.reply_code.map(|c| format!("{c}a")),
            reply_resolve => self.reply_code.map(|c| format!("{c}r")),
        }
    }

    /// A realistic page, for checking a template when it is saved: a 60-character title,
    /// links as long as Herald's.
    pub fn sample() -> Page<'static> {
        Page {
            title: "Primary database CPU above 95% for 10 minutes on orders-db-1",
            body: "p99 latency 2.3 s; 412 requests failed in the last 5 minutes.",
            priority: "CRITICAL",
            service: Some("orders-db"),
            team: Some("payments"),
            alert_count: 3,
            triggered_at: "2026-12-07 03:12:00 UTC".to_owned(),
            dashboard_url: Some("https://grafana.example.com/d/orders-db"),
            escalation_id: "0b7e4a52-3c1d-4f7e-9a2b-5c6d7e8f9a0b".to_owned(),
            recipient_name: Some("Alice Martin"),
            acknowledge_url: Some(
                "https://herald.example.com/l/Yp3kq8V2mX7rT1nB4wZ9cF6hJ0sD5gLaQeRuIoPxWtE",
            ),
            resolve_url: Some(
                "https://herald.example.com/l/Mn8bV4cX1zL7kJ2hG5fD9sA3qW6eR0tYuIoPpLkJhGf",
            ),
            reply_code: None,
        }
    }
}

/// A checked template of one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    channel: Channel,
    fields: Fields,
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    // Only the HTML part is escaped: a title with `<` is text everywhere else.
    env.set_auto_escape_callback(|name| {
        if name == "html" {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env
}

/// Renders one field; `Err` carries MiniJinja's message (never the page's content).
fn render_field(
    env: &Environment<'_>,
    field: &'static str,
    source: &str,
    context: &Value,
) -> Result<String, Invalid> {
    let template = env
        .template_from_named_str(field, source)
        .map_err(|e| invalid(field, describe(&e)))?;
    template
        .render(context)
        .map_err(|e| invalid(field, describe(&e)))
}

/// MiniJinja's error without the template source it may quote.
fn describe(e: &minijinja::Error) -> String {
    let mut message = e
        .detail()
        .map_or_else(|| e.kind().to_string(), str::to_owned);
    if let Some(line) = e.line() {
        message.push_str(&format!(" (line {line})"));
    }
    message
}

impl Template {
    /// Checks `fields` for `channel`: the fields the channel takes, syntax, variables, the
    /// SMS segment budget.
    pub fn parse(channel: Channel, fields: Fields) -> Result<Self, Invalid> {
        if !TEMPLATED.contains(&channel) {
            return Err(invalid(
                "channel",
                format!(
                    "{channel} messages take no template; templates apply to email, sms, push and voice"
                ),
            ));
        }
        if fields.subject.is_some() && !matches!(channel, Channel::Email | Channel::Push) {
            return Err(invalid(
                "subject",
                format!("{channel} messages have no subject"),
            ));
        }
        if fields.html.is_some() && channel != Channel::Email {
            return Err(invalid(
                "html",
                format!("{channel} messages have no HTML part"),
            ));
        }
        if channel == Channel::Email && fields.subject.is_none() {
            return Err(invalid("subject", "an email template needs a subject"));
        }
        let env = environment();
        let known: BTreeSet<&str> = VARIABLES.iter().map(|(name, _)| *name).collect();
        for (field, source, limit) in [
            ("subject", fields.subject.as_deref(), MAX_FIELD_BYTES),
            ("text", Some(fields.text.as_str()), MAX_FIELD_BYTES),
            ("html", fields.html.as_deref(), MAX_HTML_BYTES),
        ] {
            let Some(source) = source else { continue };
            if source.trim().is_empty() {
                return Err(invalid(field, "must not be empty"));
            }
            if source.len() > limit {
                return Err(invalid(field, format!("longer than {limit} bytes")));
            }
            let template = env
                .template_from_named_str(field, source)
                .map_err(|e| invalid(field, describe(&e)))?;
            let used = template.undeclared_variables(false);
            let mut unknown: Vec<&String> = used
                .iter()
                .filter(|v| !known.contains(v.as_str()))
                .collect();
            unknown.sort();
            if let Some(name) = unknown.first() {
                return Err(invalid(
                    field,
                    format!(
                        "unknown variable `{name}`; known: {}",
                        known.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        let template = Self { channel, fields };
        // It must render with a realistic page (a filter on a missing value, a loop over
        // a number...), and an SMS must fit its budget with one.
        let rendered = template.render(&Page::sample())?;
        if channel == Channel::Sms {
            let text = sms::measured(rendered.text);
            if text.segments > SMS_SEGMENT_BUDGET {
                return Err(invalid(
                    "text",
                    format!(
                        "takes {} SMS segments with a realistic page ({} {} units); the budget is {SMS_SEGMENT_BUDGET}",
                        text.segments,
                        text.units,
                        text.encoding.as_str()
                    ),
                ));
            }
        }
        Ok(template)
    }

    /// A template as stored, trusted (it was checked when saved).
    pub fn stored(channel: Channel, fields: Fields) -> Self {
        Self { channel, fields }
    }

    pub fn channel(&self) -> Channel {
        self.channel
    }

    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// Renders every field for `page`.
    pub fn render(&self, page: &Page<'_>) -> Result<Rendered, Invalid> {
        let env = environment();
        let context = page.context();
        let render = |field, source: &Option<String>| {
            source
                .as_deref()
                .map(|s| render_field(&env, field, s, &context))
                .transpose()
        };
        Ok(Rendered {
            subject: render("subject", &self.fields.subject)?,
            text: render_field(&env, "text", &self.fields.text, &context)?,
            html: render("html", &self.fields.html)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(subject: Option<&str>, text: &str, html: Option<&str>) -> Fields {
        Fields {
            subject: subject.map(str::to_owned),
            text: text.to_owned(),
            html: html.map(str::to_owned),
        }
    }

    #[test]
    fn an_email_template_renders_every_part_and_escapes_only_the_html() {
        let t = Template::parse(
            Channel::Email,
            fields(
                Some("[{{ priority }}] {{ title }}{% if service %} ({{ service }}){% endif %}"),
                "{{ title }}\nAck: {{ acknowledge_url }}",
                Some("<h1>{{ title }}</h1><a href=\"{{ acknowledge_url }}\">Ack</a>"),
            ),
        )
        .expect("valid");
        let page = Page {
            title: "DB <primary> & replica",
            priority: "HIGH",
            acknowledge_url: Some("https://h/l/A"),
            ..Page::default()
        };
        let r = t.render(&page).expect("renders");
        assert_eq!(r.subject.as_deref(), Some("[HIGH] DB <primary> & replica"));
        assert_eq!(r.text, "DB <primary> & replica\nAck: https://h/l/A");
        assert_eq!(
            r.html.as_deref(),
            Some(
                "<h1>DB &lt;primary&gt; &amp; replica</h1><a href=\"https:&#x2f;&#x2f;h&#x2f;l&#x2f;A\">Ack</a>"
            )
        );
    }

    #[test]
    fn an_unknown_variable_is_refused_naming_the_field_and_the_variable() {
        let e = Template::parse(
            Channel::Sms,
            fields(None, "{{ title }} {{ ack_link }}", None),
        )
        .expect_err("unknown");
        assert_eq!(e.field, "text");
        assert!(e.message.starts_with("unknown variable `ack_link`"), "{e}");
        let e = Template::parse(
            Channel::Email,
            fields(Some("{{ titel }}"), "{{ title }}", None),
        )
        .expect_err("unknown");
        assert_eq!((e.field, e.message.contains("`titel`")), ("subject", true));
        // Variables a template sets itself are its own.
        Template::parse(
            Channel::Sms,
            fields(
                None,
                "{% set who = recipient_name or 'you' %}{{ who }}: {{ title }}",
                None,
            ),
        )
        .expect("a local variable is fine");
    }

    #[test]
    fn syntax_errors_fields_and_channels_are_checked() {
        let e = Template::parse(Channel::Sms, fields(None, "{{ title ", None)).expect_err("syntax");
        assert_eq!(e.field, "text");
        assert!(e.message.contains("line 1"), "{e}");
        let e =
            Template::parse(Channel::Slack, fields(None, "{{ title }}", None)).expect_err("slack");
        assert_eq!(e.field, "channel");
        let e = Template::parse(Channel::Sms, fields(Some("x"), "{{ title }}", None))
            .expect_err("subject");
        assert_eq!(e.field, "subject");
        let e = Template::parse(Channel::Push, fields(None, "{{ title }}", Some("<b/>")))
            .expect_err("html");
        assert_eq!(e.field, "html");
        let e = Template::parse(Channel::Email, fields(None, "{{ title }}", None))
            .expect_err("no subject");
        assert_eq!(e.field, "subject");
        let e = Template::parse(Channel::Voice, fields(None, "  ", None)).expect_err("empty");
        assert_eq!(e.field, "text");
        // A filter that fails on the sample page fails when saved, not at 3 a.m.
        let e = Template::parse(
            Channel::Sms,
            fields(None, "{{ title | nosuchfilter }}", None),
        )
        .expect_err("filter");
        assert_eq!(e.field, "text");
    }

    #[test]
    fn an_sms_template_must_fit_the_segment_budget_with_a_realistic_page() {
        Template::parse(
            Channel::Sms,
            fields(
                None,
                "[{{ priority }}] {{ title }} Ack: {{ acknowledge_url }}",
                None,
            ),
        )
        .expect("two segments at most");
        let e = Template::parse(
            Channel::Sms,
            fields(
                None,
                "{{ title }} {{ body }} {{ body }} {{ acknowledge_url }} {{ resolve_url }}",
                None,
            ),
        )
        .expect_err("too long");
        assert_eq!(e.field, "text");
        assert!(e.message.contains("segments"), "{e}");
        // An emoji makes it UCS-2: 70 units a segment.
        let e = Template::parse(
            Channel::Sms,
            fields(
                None,
                "🚨 {{ title }} {{ body }} {{ acknowledge_url }}",
                None,
            ),
        )
        .expect_err("UCS-2");
        assert!(e.message.contains("UCS-2"), "{e}");
    }

    #[test]
    fn reply_codes_and_missing_values_render_as_none() {
        let t = Template::parse(
            Channel::Sms,
            fields(
                None,
                "{{ title }}{% if reply_acknowledge %} Reply {{ reply_acknowledge }}{% else %} {{ acknowledge_url }}{% endif %}",
                None,
            ),
        )
        .expect("valid");
        let with = Page {
            title: "Down",
            reply_code: Some(4),
            ..Page::default()
        };
        assert_eq!(t.render(&with).expect("renders").text, "Down Reply 4a");
        let without = Page {
            title: "Down",
            acknowledge_url: Some("https://h/l/A"),
            ..Page::default()
        };
        assert_eq!(
            t.render(&without).expect("renders").text,
            "Down https://h/l/A"
        );
    }

    #[test]
    fn a_runaway_loop_runs_out_of_fuel() {
        let t = Template::stored(
            Channel::Voice,
            fields(
                None,
                "{% for i in range(100000) %}{{ title }}{% endfor %}",
                None,
            ),
        );
        assert!(t.render(&Page::sample()).is_err());
    }
}
