//! Email through Amazon SES v2 (`aws-sdk-sesv2`): v2 is the current API, sends HTML +
//! text in one `SendEmail` call with custom headers, and supports configuration sets for
//! delivery/bounce events; v1 is legacy.

use askama::Template;
use aws_sdk_sesv2::error::SdkError;
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageHeader};

use super::{Adapter, Delivery, DeliveryError, FailureKind, Receipt};
use crate::db::notifications::Claimed;
use crate::domain::{self, Action, Address, Channel};

#[derive(Debug, Clone)]
pub struct SesEmail {
    client: aws_sdk_sesv2::Client,
    from: String,
    configuration_set: Option<String>,
}

impl SesEmail {
    pub fn new(
        client: aws_sdk_sesv2::Client,
        from: impl Into<String>,
        configuration_set: Option<String>,
    ) -> Self {
        Self {
            client,
            from: from.into(),
            configuration_set,
        }
    }

    /// An SES client whose SDK-level retries are off: a send that timed out may have
    /// been accepted, and retrying it inside the SDK would email twice. Herald's own
    /// backoff (recorded on the row) is the only retry layer.
    pub fn from_sdk(
        sdk: &aws_config::SdkConfig,
        from: impl Into<String>,
        configuration_set: Option<String>,
    ) -> Self {
        let config = aws_sdk_sesv2::config::Builder::from(sdk)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .build();
        Self::new(
            aws_sdk_sesv2::Client::from_conf(config),
            from,
            configuration_set,
        )
    }
}

/// `HERALD_SES_FROM` (required) and `HERALD_SES_CONFIGURATION_SET`.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    pub from: String,
    pub configuration_set: Option<String>,
}

/// The rendered message. Public so the rendering can be tested without sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    /// `None`: a tenant's template without an HTML part (the email goes as text only).
    pub html: Option<String>,
    pub text: String,
}

#[derive(Template)]
#[template(path = "email.html")]
struct HtmlEmail<'a> {
    n: &'a Claimed,
    priority_label: &'a str,
    priority_color: &'a str,
    acknowledge_url: &'a str,
    resolve_url: &'a str,
    triggered_at: String,
}

#[derive(Template)]
#[template(path = "email.txt")]
struct TextEmail<'a> {
    n: &'a Claimed,
    priority_label: &'a str,
    acknowledge_url: &'a str,
    resolve_url: &'a str,
    triggered_at: String,
}

pub fn subject(n: &Claimed) -> String {
    let mut subject = format!("[{}] {}", n.priority.label(), n.title);
    if let Some(service) = &n.service {
        subject.push_str(" — ");
        subject.push_str(service);
    }
    subject
}

pub fn render(delivery: &Delivery<'_>) -> Result<RenderedEmail, DeliveryError> {
    let n = delivery.notification;
    if let Some(own) = delivery.templated() {
        return Ok(RenderedEmail {
            // One line: a header cannot hold a line break.
            subject: own
                .subject
                .map_or_else(|| subject(n), |s| domain::text::one_line(&s)),
            html: own.html,
            text: own.text,
        });
    }
    let acknowledge_url = delivery.link(Action::Acknowledge)?;
    let resolve_url = delivery.link(Action::Resolve)?;
    let template_error =
        |e: askama::Error| DeliveryError::permanent("TemplateError", e.to_string());
    let triggered_at = n.triggered_at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let priority_color = match n.priority {
        domain::Priority::Critical => "#b91c1c",
        domain::Priority::High => "#c2410c",
        domain::Priority::Medium => "#a16207",
        domain::Priority::Low => "#1d4ed8",
        domain::Priority::Info => "#4b5563",
    };
    let html = HtmlEmail {
        n,
        priority_label: n.priority.label(),
        priority_color,
        acknowledge_url,
        resolve_url,
        triggered_at: triggered_at.clone(),
    }
    .render()
    .map_err(template_error)?;
    let text = TextEmail {
        n,
        priority_label: n.priority.label(),
        acknowledge_url,
        resolve_url,
        triggered_at,
    }
    .render()
    .map_err(template_error)?;
    Ok(RenderedEmail {
        subject: subject(n),
        html: Some(html),
        text,
    })
}

fn content(data: String) -> Result<Content, DeliveryError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| DeliveryError::permanent("BuildError", e.to_string()))
}

fn header(name: &str, value: &str) -> Result<MessageHeader, DeliveryError> {
    MessageHeader::builder()
        .name(name)
        .value(value)
        .build()
        .map_err(|e| DeliveryError::permanent("BuildError", e.to_string()))
}

impl Adapter for SesEmail {
    const CHANNEL: Channel = Channel::Email;
    const ACTIONS: &'static [Action] = &[Action::Acknowledge, Action::Resolve];
    type Settings = EmailSettings;

    fn settings(config: &crate::Config) -> anyhow::Result<EmailSettings> {
        let channel = config.channel(Channel::Email);
        Ok(EmailSettings {
            from: channel.require("SES_FROM")?.to_owned(),
            configuration_set: channel.get("SES_CONFIGURATION_SET").map(str::to_owned),
        })
    }

    fn build(settings: EmailSettings, sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        Ok(Self::from_sdk(
            sdk,
            settings.from,
            settings.configuration_set,
        ))
    }

    #[tracing::instrument(name = "send email", skip_all, fields(notification_id = %delivery.notification.id))]
    async fn deliver(&self, delivery: &Delivery<'_>) -> Result<Receipt, DeliveryError> {
        let n = delivery.notification;
        let Some(Address::Email(to)) = &n.address else {
            return Err(DeliveryError::new(
                FailureKind::AddressInvalid,
                "NoAddress",
                "the recipient has no email address",
            ));
        };
        let to = to.as_str();
        let rendered = render(delivery)?;
        let message = Message::builder()
            .subject(content(rendered.subject)?)
            .body(
                Body::builder()
                    .text(content(rendered.text)?)
                    .set_html(rendered.html.map(content).transpose()?)
                    .build(),
            )
            // Automated mail: no out-of-office replies into the sender's inbox (RFC 3834).
            .headers(header("Auto-Submitted", "auto-generated")?)
            .headers(header("X-Auto-Response-Suppress", "All")?)
            .headers(header(
                "X-Herald-Escalation-Id",
                &n.escalation_id.to_string(),
            )?)
            .build();
        let output = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(to).build())
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(classify)?;
        Ok(Receipt {
            provider_message_id: output.message_id().map(str::to_owned),
        })
    }
}

/// Throttling, quota and outages pass; a rejected message or a misconfigured sender
/// will not fix itself by retrying the same message.
fn classify<R>(err: SdkError<SendEmailError, R>) -> DeliveryError {
    super::classify_sdk(err, "SES", |e, code, message| match e {
        SendEmailError::TooManyRequestsException(_) | SendEmailError::LimitExceededException(_) => {
            DeliveryError::rate_limited(code, message, None)
        }
        SendEmailError::SendingPausedException(_) => DeliveryError::transient(code, message),
        SendEmailError::MessageRejected(_)
        | SendEmailError::MailFromDomainNotVerifiedException(_)
        | SendEmailError::NotFoundException(_)
        | SendEmailError::BadRequestException(_)
        | SendEmailError::AccountSuspendedException(_) => DeliveryError::permanent(code, message),
        _ if code == "Throttling" || code == "ThrottlingException" => {
            DeliveryError::rate_limited(code, message, None)
        }
        _ if is_transient_code(code) => DeliveryError::transient(code, message),
        _ => DeliveryError::permanent(code, message),
    })
}

fn is_transient_code(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ServiceUnavailable"
            | "InternalFailure"
            | "InternalServerError"
            | "RequestTimeout"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::Links;
    use secrecy::SecretString;

    fn claimed() -> Claimed {
        Claimed {
            title: "Primary database <CPU> above 95%".into(),
            team: Some("platform".into()),
            alert_count: 3,
            dashboard_url: Some("https://grafana.example.com/d/orders-db".into()),
            recipient_name: Some("Alice".into()),
            address: Address::parse(Channel::Email, Some("alice@example.com")),
            ..Claimed::sample(Channel::Email)
        }
    }

    fn links() -> Links {
        Links::new(vec![
            (
                Action::Acknowledge,
                SecretString::from("https://h.example/l/ACK".to_owned()),
            ),
            (
                Action::Resolve,
                SecretString::from("https://h.example/l/RES".to_owned()),
            ),
        ])
    }

    fn delivery<'a>(n: &'a Claimed, links: &'a Links) -> Delivery<'a> {
        Delivery {
            notification: n,
            links,
            credential: None,
        }
    }

    #[test]
    fn email_shows_every_field_and_both_links() {
        let n = claimed();
        let links = links();
        let email = render(&delivery(&n, &links)).expect("renders");
        assert_eq!(
            email.subject,
            "[CRITICAL] Primary database <CPU> above 95% — orders-db"
        );
        for part in [email.html.as_ref().expect("html"), &email.text] {
            for needle in [
                "orders-db",
                "platform",
                "3",
                "https://grafana.example.com/d/orders-db",
                "https://h.example/l/ACK",
                "https://h.example/l/RES",
                "p99 latency 2.3 s",
            ] {
                assert!(part.contains(needle), "missing {needle}");
            }
        }
    }

    #[test]
    fn html_escapes_the_title() {
        let n = claimed();
        let links = links();
        let email = render(&delivery(&n, &links)).expect("renders");
        let html = email.html.expect("html");
        assert!(html.contains("Primary database &#60;CPU&#62;") || html.contains("&lt;CPU&gt;"));
        assert!(!html.contains("<CPU>"));
    }
}
