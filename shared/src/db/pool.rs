use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::{DatabaseConfig, DatabaseSource};

/// Builds the pool. No connection is opened here: the first query opens one, so a cold
/// start does not pay for a TCP + TLS handshake it may not need yet. Waiting for a
/// connection is bounded, so a database outage fails fast instead of eating the Lambda
/// deadline.
pub async fn connect_pool(config: &DatabaseConfig) -> anyhow::Result<Pool> {
    let mut pg: tokio_postgres::Config = match &config.source {
        DatabaseSource::Url(url) => url
            .expose_secret()
            .parse()
            .context("HERALD_DATABASE_URL is not a valid PostgreSQL connection string")?,
        DatabaseSource::Secret {
            host,
            port,
            dbname,
            user,
            sslmode,
            secret_arn,
        } => {
            let password = fetch_secret_password(secret_arn).await?;
            let mut pg = tokio_postgres::Config::new();
            pg.host(host).port(*port).dbname(dbname).user(user);
            pg.password(password.expose_secret().as_bytes());
            pg.ssl_mode(match sslmode.as_str() {
                "disable" => tokio_postgres::config::SslMode::Disable,
                "prefer" => tokio_postgres::config::SslMode::Prefer,
                "require" => tokio_postgres::config::SslMode::Require,
                other => {
                    bail!("HERALD_DATABASE_SSLMODE={other:?}: expected disable, prefer or require")
                }
            });
            pg
        }
    };
    pg.application_name(
        std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .as_deref()
            .unwrap_or("herald"),
    );
    // No JIT: every Herald statement is short, and PostgreSQL compiles one whose cost
    // estimate passes `jit_above_cost`, which a JSON expansion's guessed 100 rows per
    // call easily does: 40-50 ms of compiling for a 5 ms statement (the engine's claim).
    let options = match pg.get_options() {
        Some(o) if !o.trim().is_empty() => format!("{o} -c jit=off"),
        _ => "-c jit=off".to_owned(),
    };
    pg.options(&options);
    pg.connect_timeout(Duration::from_secs(5));
    pg.keepalives_idle(Duration::from_secs(30));

    let manager = Manager::from_config(
        pg,
        tls_connector(config.ca_file.as_deref())?,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(config.pool_size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()
        .context("building the database pool")
}

/// rustls with the same aws-lc-rs provider the AWS SDK uses; public web roots (RDS Proxy
/// presents an Amazon Trust Services certificate) plus an optional PEM bundle.
fn tls_connector(ca_file: Option<&str>) -> anyhow::Result<MakeRustlsConnect> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        for cert in CertificateDer::pem_file_iter(path)
            .with_context(|| format!("reading HERALD_DATABASE_CA_FILE {path}"))?
        {
            roots.add(cert.context("parsing a CA certificate")?)?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(tls))
}

/// Reads `{"password": ...}` from Secrets Manager through the Parameters and Secrets
/// Lambda extension (localhost, cached by the extension), so no Secrets Manager SDK is
/// linked into every function.
async fn fetch_secret_password(secret_arn: &str) -> anyhow::Result<SecretString> {
    #[derive(serde::Deserialize)]
    struct Secret {
        password: String,
    }
    let secret = crate::secrets::fetch_secret_string(secret_arn).await?;
    let secret: Secret =
        serde_json::from_str(secret.expose_secret()).context("secret has no password")?;
    Ok(SecretString::from(secret.password))
}

/// `migrations/` of this repository (override with `HERALD_MIGRATIONS_DIR`).
pub fn migrations_dir() -> PathBuf {
    std::env::var_os("HERALD_MIGRATIONS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations"))
}

/// Applies every pending `.up.sql`, each in its own transaction, under an advisory lock.
pub async fn migrate(client: &mut tokio_postgres::Client, dir: &Path) -> anyhow::Result<()> {
    migrio::Migration::new(dir)
        .with_context(|| format!("reading migrations from {}", dir.display()))?
        .run(client)
        .await
        .context("applying migrations")
}

/// Reverts every applied migration newer than `version` (0 reverts them all).
pub async fn migrate_down(
    client: &mut tokio_postgres::Client,
    dir: &Path,
    version: i64,
) -> anyhow::Result<()> {
    migrio::Migration::new(dir)
        .with_context(|| format!("reading migrations from {}", dir.display()))?
        .undo(client, version)
        .await
        .context("reverting migrations")
}
