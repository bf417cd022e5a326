//! `courtyard`: the API server (with the workers in-process), the workers alone, demo mode,
//! migrations, the OpenAPI export and admin bootstrap.

use std::{path::PathBuf, sync::Arc};

use anyhow::Context;
use clap::{Parser, Subcommand};
use courtyard::{Application, Dependencies, demo};
use courtyard_api::{
    startup::{self, SecretPolicy},
    telemetry,
};
use courtyard_domain::{
    Settings, SystemClock,
    auth::Password,
    entities::{company, staff},
    new_id,
    people::StaffRole,
    settings::PaymentProviderKind,
};
use courtyard_providers::login_codes::CodeSender;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use secrecy::ExposeSecret;

// glibc's allocator spends a third of a busy API's CPU in malloc/free (measured with perf
// under the ticket load benchmark); mimalloc keeps per-thread free lists.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "courtyard",
    version,
    about = "Courtyard property-management backend"
)]
struct Cli {
    /// Settings file (TOML); `courtyard.toml` in the working directory is read if present.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API with the workers in the same process.
    Serve {
        /// Run the API only (workers run as `courtyard-workers`).
        #[arg(long)]
        no_workers: bool,
    },
    /// Seed the demo community, then serve API + workers, with readable logs.
    Demo,
    /// Run the workers alone (scale them apart from the API); the database must be migrated.
    Workers,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (YAML), or write it to a file.
    Openapi {
        /// Where to write it.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Create a company and its first admin.
    CreateAdmin {
        /// Company name (created if missing).
        #[arg(long)]
        company: String,
        /// Admin login name.
        #[arg(long)]
        username: String,
        /// Admin display name.
        #[arg(long, default_value = "Administrator")]
        name: String,
        /// Password; read from COURTYARD_ADMIN_PASSWORD when absent.
        #[arg(long, env = "COURTYARD_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut settings = Settings::load(cli.config.as_deref()).context("loading settings")?;
    if matches!(cli.command, Command::Demo) {
        settings.log_format = courtyard_domain::settings::LogFormat::Pretty;
    }
    telemetry::init(settings.log_format);
    match cli.command {
        Command::Serve { no_workers } => serve(settings, !no_workers, false).await,
        Command::Demo => serve(settings, true, true).await,
        Command::Workers => courtyard::run_workers(settings).await,
        Command::Migrate => {
            startup::connect_and_migrate(&settings).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Openapi { output } => {
            let yaml = startup::export_openapi().await?;
            match output {
                Some(path) => std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print!("{yaml}"),
            }
            Ok(())
        }
        Command::CreateAdmin {
            company: company_name,
            username,
            name,
            password,
        } => {
            let db = startup::connect_and_migrate(&settings).await?;
            let password = Password::parse(&password).map_err(|e| anyhow::anyhow!(e))?;
            let now = chrono::Utc::now();
            let company_id = match company::Entity::find()
                .filter(company::Column::Name.eq(&company_name))
                .one(&db)
                .await?
            {
                Some(c) => c.id,
                None => {
                    let id = new_id();
                    company::ActiveModel {
                        id: Set(id),
                        name: Set(company_name),
                        created_at: Set(now),
                    }
                    .insert(&db)
                    .await?;
                    id
                }
            };
            staff::ActiveModel {
                id: Set(new_id()),
                company_id: Set(company_id),
                name: Set(name),
                username: Set(username.clone()),
                phone: Set(None),
                password_hash: Set(password.hash()?),
                role: Set(StaffRole::Admin.as_str().into()),
                active: Set(true),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&db)
            .await
            .context("creating the admin (is the username taken?)")?;
            tracing::info!(%username, "admin created");
            Ok(())
        }
    }
}

async fn serve(settings: Settings, with_workers: bool, demo_mode: bool) -> anyhow::Result<()> {
    if !demo_mode
        && settings.payments.provider == PaymentProviderKind::Dev
        && !settings.payments.allow_dev
    {
        anyhow::bail!(
            "payments use the dev provider, with which a resident confirms their own payment: \
             configure WeChat Pay (COURTYARD_PAYMENTS__PROVIDER=wechat_pay and \
             payments.wechat_pay), or allow the dev provider explicitly for a staging server \
             (COURTYARD_PAYMENTS__ALLOW_DEV=true)"
        );
    }
    let deps = Dependencies {
        workers: with_workers,
        // One demo process may sign with a key of its own; `serve` needs the shared one.
        secret_policy: if demo_mode {
            SecretPolicy::RandomIfMissing
        } else {
            SecretPolicy::Required
        },
        // The demo shows codes on its own output unless an SMS provider is configured.
        code_sender: (demo_mode && settings.notifications.sms.is_none())
            .then(|| Arc::new(demo::DemoCodeSender) as Arc<dyn CodeSender>),
        ..Dependencies::default()
    };
    let app = Application::build(settings, deps).await?;
    if !demo_mode && !app.sends_login_codes() {
        tracing::warn!(
            "no SMS provider configured (notifications.sms): login codes are written to the log \
             instead of sent; residents cannot log in by SMS"
        );
    }
    let state = app.state().clone();
    let seeded = if demo_mode {
        Some(demo::seed(&state.db, &SystemClock).await?)
    } else {
        None
    };
    let base = format!("http://{}:{}", state.settings.server.host, app.port());
    tracing::info!(url = %base, docs = %format!("{base}/docs"), "Courtyard is listening");
    if demo_mode {
        println!(
            "\nCourtyard demo is up.\n  API docs:  {base}/docs\n  OpenAPI:   {base}/openapi.json\n  Health:    {base}/healthz\n\nDemo logins:"
        );
        for login in demo::LOGINS {
            println!("  {:<40} {:<14} {}", login.who, login.login, login.secret);
        }
        if seeded == Some(demo::Seeded::Reused) {
            // A PostgreSQL URL may hold a password: only a SQLite file is named.
            let url = state.settings.database.url.expose_secret();
            match url.strip_prefix("sqlite://") {
                Some(file) => println!(
                    "\n(Reusing the demo data already in {}: delete that file for a fresh start.)",
                    file.split('?').next().unwrap_or(file)
                ),
                None => println!("\n(Reusing the demo data already in the configured database.)"),
            }
        }
        println!(
            "\nStaff: curl -s -X POST {base}/v1/auth/staff-login -H 'content-type: application/json' -d '{{\"username\":\"admin\",\"password\":\"courtyard-admin\"}}'"
        );
        println!(
            "\nTry: curl -s -X POST {base}/v1/auth/sms-codes -H 'content-type: application/json' -d '{{\"phone\":\"13800000001\"}}'\n"
        );
    }
    app.run_until(courtyard::shutdown_signal()).await?;
    Ok(())
}
