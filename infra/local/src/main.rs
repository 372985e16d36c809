//! `herald-local`: run Herald on one machine.
//!
//! ```text
//! herald-local migrate [--down]        apply (or revert all) migrations to HERALD_DATABASE_URL
//! herald-local tenant create <name>    create a tenant and print its API key (shown once)
//! herald-local queues                  create every channel's queue + DLQ and the SES identity; print their URLs
//! herald-local serve [--addr ADDR] [--retry-every SECS] [--retention-every SECS]
//!                                      serve the HTTP API, poll the queues and fire the schedules
//!                                      (default 127.0.0.1:3000, every 60 s and 3600 s)
//! herald-local retry                   one retry sweep now; prints its summary
//! herald-local retention               one retention run now; prints its summary
//! herald-local fakes [--teams-port P] [--voice-port P] [--slack-port P]
//!                                      run the fake Teams, voice and Slack providers until stopped
//! SLACK_BOT_TOKEN=xoxb-… herald-local slack install --tenant ID --team T…
//!                                      store a tenant's Slack installation (token sealed)
//! herald-local demo [--base-url URL]   run the main flow against a running `serve`
//! herald-local openapi [--write|--check]
//!                                      print the API's OpenAPI document (or write it to
//!                                      shared/openapi.json, or check that copy)
//! herald-local bench [--seconds N] [--only scheduled|ingest|dispatch|engine|receipts|e2e]
//!                                      print the performance figures (see infra/local/bench.sh)
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use herald_local::schedules::Schedules;
use herald_local::{demo, serve, stack};
use secrecy::ExposeSecret;

const USAGE: &str = "usage: herald-local <migrate [--down] | tenant create <name> | queues | serve [--addr ADDR] [--retry-every SECS] [--retention-every SECS] | retry | retention | fakes [--teams-port P] [--voice-port P] [--slack-port P] | slack install --tenant ID --team T… (token in SLACK_BOT_TOKEN) | demo [--base-url URL] | openapi [--write|--check] | bench [--seconds N] [--only scheduled|ingest|dispatch|engine|receipts|e2e]>";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    herald::telemetry::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| *a == name)
            .and_then(|i| args.get(i + 1))
            .copied()
    };
    match args.as_slice() {
        ["migrate", rest @ ..] => {
            let config = herald::Config::from_env()?;
            let url = match &config.database.source {
                herald::config::DatabaseSource::Url(u) => u.expose_secret().to_owned(),
                _ => bail!("migrate needs HERALD_DATABASE_URL"),
            };
            let (mut client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .context("connecting to HERALD_DATABASE_URL")?;
            tokio::spawn(conn);
            let dir = herald::db::migrations_dir();
            if rest.contains(&"--down") {
                herald::db::migrate_down(&mut client, &dir, 0).await?;
                println!("reverted every migration in {}", dir.display());
            } else {
                herald::db::migrate(&mut client, &dir).await?;
                println!("applied migrations from {}", dir.display());
            }
        }
        ["tenant", "create", name] => {
            let config = herald::Config::from_env()?;
            let pool = herald::db::connect_pool(&config.database).await?;
            let (tenant_id, key) = stack::create_tenant(&pool.get().await?, name).await?;
            println!("tenant_id={tenant_id}");
            println!("api_key={}", key.expose_secret());
            eprintln!("(the key is shown once; Herald stores only its SHA-256)");
        }
        ["slack", "install", ..] => {
            // What the OAuth callback will store: the workspace and its sealed bot token.
            let config = herald::Config::from_env()?;
            let pool = herald::db::connect_pool(&config.database).await?;
            let tenant: uuid::Uuid = flag("--tenant").context("--tenant ID")?.parse()?;
            let team = flag("--team").context("--team T…")?;
            // From the environment, not the command line: argv is visible to every user.
            let token = std::env::var("SLACK_BOT_TOKEN").context("SLACK_BOT_TOKEN=xoxb-…")?;
            stack::install_slack(&pool.get().await?, &config, tenant, team, &token).await?;
            println!(
                "slack installed for tenant {tenant} (workspace {team}); the token is stored sealed"
            );
        }
        ["queues"] => {
            // Creates every channel's queue and DLQ, the rate-limit table and the SES
            // sender identity; prints the variables that point Herald at them.
            let config = herald::Config::from_env()?;
            let sdk = herald::config::aws_sdk_config().await;
            let ses = herald::aws_sdk_sesv2::Client::new(&sdk);
            stack::ensure_sender_identity(
                &ses,
                config
                    .channel(herald::domain::Channel::Email)
                    .get("SES_FROM")
                    .unwrap_or("herald@alerts.example.com"),
            )
            .await?;
            let queues = stack::ensure_channel_queues(
                &herald::aws_sdk_sqs::Client::new(&sdk),
                "herald",
                30,
                5,
            )
            .await?;
            for (channel, queue) in queues {
                println!("HERALD_QUEUE_URL_{}={}", channel.env_name(), queue.url);
                println!("HERALD_DLQ_URL_{}={}", channel.env_name(), queue.dlq_url);
            }
            stack::ensure_rate_limit_table(&sdk).await?;
            println!("HERALD_RATE_LIMIT_TABLE={}", stack::LOCAL_RATE_LIMIT_TABLE);
        }
        ["serve", ..] => {
            let addr: SocketAddr = flag("--addr").unwrap_or("127.0.0.1:3000").parse()?;
            let defaults = serve::Periods::default();
            let secs = |name: &str, default: Duration| -> anyhow::Result<Duration> {
                match flag(name).map(str::parse::<u64>).transpose()? {
                    None => Ok(default),
                    Some(0) => bail!("{name} must be at least 1 second"),
                    Some(n) => Ok(Duration::from_secs(n)),
                }
            };
            let periods = serve::Periods {
                retry: secs("--retry-every", defaults.retry)?,
                retention: secs("--retention-every", defaults.retention)?,
            };
            serve::run(herald::Config::from_env()?, addr, periods).await?;
        }
        [which @ ("retry" | "retention")] => {
            let mut config = herald::Config::from_env()?;
            let sdk = herald::config::aws_sdk_config().await;
            if config.enabled_channels().is_empty() {
                // The queues `serve` uses.
                let sqs = herald::aws_sdk_sqs::Client::new(&sdk);
                let queues = stack::ensure_channel_queues(&sqs, "herald", 30, 5).await?;
                stack::use_queues(&mut config, &queues);
            }
            let schedules = Schedules::new(&config, &sdk).await?;
            let json = if *which == "retry" {
                serde_json::to_string(&schedules.fire_retry().await?)?
            } else {
                serde_json::to_string(&schedules.fire_retention().await?)?
            };
            println!("{json}");
        }
        ["fakes", ..] => {
            let port = |name: &str| flag(name).map(str::parse::<u16>).transpose();
            let fakes = herald_local::fakes::FakeProviders::on(
                port("--teams-port")?,
                port("--voice-port")?,
                port("--slack-port")?,
            )
            .await;
            println!("teams {}/teams/{{name}}", fakes.teams.uri());
            println!("voice {}", fakes.voice_endpoint());
            println!("slack {}", fakes.slack_api_base());
            std::future::pending::<()>().await;
        }
        ["demo", ..] => {
            let base = flag("--base-url").unwrap_or("http://127.0.0.1:3000");
            let moto = std::env::var("AWS_ENDPOINT_URL")
                .unwrap_or_else(|_| "http://127.0.0.1:5055".into());
            demo::run(&herald::Config::from_env()?, base, &moto).await?;
        }
        ["openapi", rest @ ..] => {
            let made = herald_local::openapi::json();
            let path = herald_local::openapi::checked_in_path();
            match rest {
                [] => print!("{made}"),
                ["--write"] => {
                    std::fs::write(&path, &made)
                        .with_context(|| format!("writing {}", path.display()))?;
                    println!("wrote {}", path.display());
                }
                ["--check"] => {
                    if std::fs::read_to_string(&path).unwrap_or_default() != made {
                        bail!(
                            "{} is stale: run `herald-local openapi --write`",
                            path.display()
                        );
                    }
                    println!("{} is the code's document", path.display());
                }
                _ => bail!("usage: herald-local openapi [--write | --check]"),
            }
        }
        ["bench", ..] => {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            herald_local::bench::run(herald_local::bench::BenchArgs {
                admin_url: std::env::var("HERALD_PG_ADMIN_URL").unwrap_or_else(|_| {
                    "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable".into()
                }),
                seconds: flag("--seconds").unwrap_or("5").parse()?,
                release_dir: root.join("target/release"),
                lambda_dir: root.join("target/lambda"),
                only: match flag("--only") {
                    None => None,
                    Some("scheduled") => Some(herald_local::bench::Only::Scheduled),
                    Some("ingest") => Some(herald_local::bench::Only::Ingest),
                    Some("dispatch") => Some(herald_local::bench::Only::Dispatch),
                    Some("engine") => Some(herald_local::bench::Only::Engine),
                    Some("receipts") => Some(herald_local::bench::Only::Receipts),
                    Some("e2e") => Some(herald_local::bench::Only::EndToEnd),
                    Some(other) => {
                        bail!(
                            "--only {other}: expected scheduled, ingest, dispatch, engine, receipts or e2e"
                        )
                    }
                },
            })
            .await?;
        }
        _ => bail!(USAGE),
    }
    Ok(())
}
