//! A Teams webhook URL a tenant registers. The dispatcher will POST pages to it from
//! inside the VPC, so only HTTPS URLs on the hosts Power Automate Workflows uses are
//! accepted (anything else would let a tenant aim Herald at internal services).

use secrecy::SecretString;

/// Where Workflows webhooks live (`prod-NN.<region>.logic.azure.com`, and the newer
/// `*.environment.api.powerplatform.com`). Not `webhook.office.com`: that is the retired
/// Office 365 connectors' host. `HERALD_TEAMS_WEBHOOK_HOSTS` replaces the list.
pub const DEFAULT_TEAMS_HOSTS: &[&str] =
    &["logic.azure.com", "powerplatform.com", "powerautomate.com"];

/// A parsed webhook URL; the URL itself stays secret.
pub struct TeamsWebhookUrl {
    pub url: SecretString,
    /// The host, which is not secret: the API shows it back.
    pub host: String,
}

impl std::fmt::Debug for TeamsWebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TeamsWebhookUrl({}/…)", self.host)
    }
}

/// The rule for any URL Herald sends a secret to (a webhook, an API with a bearer
/// token): `https`, or plain `http` to loopback only (the local fakes), and no
/// credentials before the host. Returns the lower-cased host.
pub fn check_provider_url(url: &url::Url) -> Result<String, String> {
    let host = url.host_str().ok_or("has no host")?.to_ascii_lowercase();
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials before the host".into());
    }
    let loopback = matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]");
    match url.scheme() {
        "https" => Ok(host),
        "http" if loopback => Ok(host),
        _ => Err("must be an https URL".into()),
    }
}

impl TeamsWebhookUrl {
    /// `allowed` are host suffixes; a loopback entry (`127.0.0.1`, `localhost`) also
    /// allows plain `http` to it, for local fake providers.
    pub fn parse(raw: &str, allowed: &[String]) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.len() > 2048 {
            return Err("is longer than 2048 characters".into());
        }
        let url = url::Url::parse(raw).map_err(|_| "is not a URL".to_owned())?;
        let host = check_provider_url(&url)?;
        let matches = |suffix: &String| {
            let suffix = suffix.trim().trim_start_matches('.').to_ascii_lowercase();
            !suffix.is_empty() && (host == suffix || host.ends_with(&format!(".{suffix}")))
        };
        if !allowed.iter().any(matches) {
            return Err(format!(
                "must be a Power Automate Workflows webhook (a host under {})",
                allowed.join(", ")
            ));
        }
        Ok(Self {
            url: SecretString::from(url.to_string()),
            host,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn defaults() -> Vec<String> {
        DEFAULT_TEAMS_HOSTS
            .iter()
            .map(|h| (*h).to_owned())
            .collect()
    }

    #[test]
    fn a_workflows_url_is_accepted_and_shows_only_its_host() {
        let raw = "https://prod-12.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SECRET";
        let w = TeamsWebhookUrl::parse(raw, &defaults()).expect("valid");
        assert_eq!(w.host, "prod-12.westus.logic.azure.com");
        assert!(w.url.expose_secret().contains("sig=SECRET"));
        assert!(!format!("{w:?}").contains("SECRET"));
    }

    #[test]
    fn other_hosts_and_schemes_are_refused() {
        for bad in [
            "http://prod-12.westus.logic.azure.com/workflows/x",
            "https://evil-logic.azure.com.example.org/x",
            "https://169.254.169.254/latest/meta-data",
            "https://user:pw@prod-1.logic.azure.com/x",
            "http://127.0.0.1:8080/x",
            "not a url",
        ] {
            assert!(TeamsWebhookUrl::parse(bad, &defaults()).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_loopback_entry_allows_a_local_fake_provider() {
        let allowed = vec!["127.0.0.1".to_owned()];
        assert!(TeamsWebhookUrl::parse("http://127.0.0.1:8080/teams/x", &allowed).is_ok());
    }
}
