//! `chatsource`: the whole product on a laptop. `serve` runs every function behind one HTTP
//! server on an embedded SQLite store; `invoke` runs one function on one `events/` file.
#![allow(clippy::print_stdout)] // a command-line tool talks on stdout

use chatsource::{Demo, ServeOptions, ensure_demo, open_store};
use clap::{Parser, Subcommand};
use shared::app::App;
use shared::app::demo as seed;
use shared::domain::account::MIN_KEY_LEN;
use shared::domain::net::UrlPolicy;
use shared::domain::secret::Secret;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// See Cargo.toml: glibc's malloc was a third of the server's profile under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(version, about = "chatsource: chats to ad analytics, locally")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every route (webhooks, management API) on the embedded store.
    Serve {
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        /// Where the SQLite store lives (one file, chatsource.db).
        #[arg(long, default_value = ".chatsource")]
        data_dir: PathBuf,
        /// The demo account's API key (else a random one is made at the first start).
        #[arg(long, env = "CHATSOURCE_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
        /// Enables POST /api/accounts with this key.
        #[arg(long, env = "CHATSOURCE_ADMIN_KEY", hide_env_values = true)]
        admin_key: Option<String>,
        /// Base of the URLs handed out (a tunnel's https URL, say); default: the request's host.
        #[arg(long, env = "CHATSOURCE_PUBLIC_URL")]
        public_url: Option<String>,
        /// Lets provider addresses be plain http and internal (local stand-ins of a CRM).
        /// Development and tests only: a tenant could aim requests inside your network.
        #[arg(long)]
        allow_private_urls: bool,
        /// Another address for the Yandex Metrika API the hourly upload goes to (a stand-in);
        /// default: Metrika's own.
        #[arg(long, env = "CHATSOURCE_METRIKA_URL")]
        metrika_url: Option<String>,
    },
    /// Run one function on an API Gateway event file and print its response like `sam local invoke`.
    Invoke {
        /// jivo-webhook, verbox-webhook, api, tracker or enrichment-worker (an SQS event).
        function: String,
        event: PathBuf,
        #[arg(long, default_value = ".chatsource")]
        data_dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse().command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("chatsource: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve {
            addr,
            data_dir,
            api_key,
            admin_key,
            public_url,
            allow_private_urls,
            metrika_url,
        } => {
            for key in [&api_key, &admin_key].into_iter().flatten() {
                if key.len() < MIN_KEY_LEN {
                    return Err(format!("keys must be at least {MIN_KEY_LEN} characters"));
                }
            }
            let started = chrono::Utc::now();
            let (store, kv) = open_store(&data_dir).map_err(|e| e.to_string())?;
            // A server others can reach gets no demo: its webhook secrets are public.
            let exposed = !addr.ip().is_loopback() || public_url.is_some();
            let demo = chatsource::prepare(&store, api_key, exposed)
                .await
                .map_err(|e| e.to_string())?;
            let app = Arc::new(
                App::new(store.clone())
                    .with_url_policy(UrlPolicy {
                        allow_private: allow_private_urls,
                    })
                    .with_public_url(public_url.clone())
                    .with_metrika_url(metrika_url)
                    .with_admin_key(admin_key.map(Secret::new))
                    .with_queue(chatsource::embedded_queue(&store)),
            );
            let running = chatsource::serve(Arc::clone(&app), ServeOptions { addr })
                .await
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            chatsource::spawn_recovery(Arc::clone(&app), started);
            chatsource::spawn_hourly(Arc::clone(&app), kv);
            let worker = Arc::new(enrichment_worker::Worker::new());
            tokio::spawn(enrichment_worker::run_local(
                app,
                worker,
                Duration::from_millis(500),
            ));
            let local = format!("http://{}", running.addr);
            let base = public_url.unwrap_or_else(|| local.clone());
            banner(&local, &base, &data_dir, &demo);
            running
                .task
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())
        }
        Command::Invoke {
            function,
            event,
            data_dir,
        } => {
            let event = std::fs::read_to_string(&event)
                .map_err(|e| format!("cannot read {}: {e}", event.display()))?;
            let (store, _) = open_store(&data_dir).map_err(|e| e.to_string())?;
            ensure_demo(&store, None).await.map_err(|e| e.to_string())?;
            let app = App::new(store.clone()).with_queue(chatsource::embedded_queue(&store));
            let response = chatsource::invoke(&app, &function, &event)
                .await
                .map_err(|e| e.to_string())?;
            println!("{response}");
            Ok(())
        }
    }
}

/// What a newcomer needs to try it. Written in one go, and a closed stdout (a supervisor, a
/// test that stopped reading) is ignored: the server must not die for want of a reader.
fn banner(local: &str, base: &str, data_dir: &std::path::Path, demo: &Demo) {
    use std::fmt::Write as _;
    use std::io::Write as _;
    let key = match demo {
        Demo::Seeded { api_key }
        | Demo::Empty { api_key }
        | Demo::Existing {
            api_key: Some(api_key),
            ..
        } => api_key.clone(),
        Demo::Existing { api_key: None, .. } => {
            "<the key printed at the first start, or set one with --api-key>".into()
        }
    };
    let mut text = String::new();
    let public = if local == base {
        String::new()
    } else {
        format!(", reached as {base}")
    };
    let _ = writeln!(
        text,
        "chatsource is listening on {local} (store: {}){public}",
        data_dir.join("chatsource.db").display()
    );
    match demo {
        Demo::Seeded { .. } => {
            let _ = writeln!(
                text,
                "Seeded the demo account: a shop, sources, campaigns with UTM rules, an employee, \
                 and Jivo, Verbox, amoCRM and Bitrix24 integrations."
            );
        }
        Demo::Empty { .. } => {
            let _ = writeln!(
                text,
                "This server can be reached from outside (an address that is not loopback, or \
                 --public-url), so the demo account, whose webhook secrets are public, was not \
                 seeded: the account is empty. Add integrations with POST {base}/api/integrations."
            );
        }
        Demo::Existing { secured, .. } if *secured > 0 => {
            let _ = writeln!(
                text,
                "This server can be reached from outside: the {secured} demo integrations got \
                 new webhook secrets (the samples' public ones no longer work); read their URLs \
                 from the API."
            );
        }
        Demo::Existing { .. } => {}
    }
    let _ = writeln!(text);
    let _ = writeln!(text, "  API key:           {key}");
    if let Demo::Seeded { .. } = demo {
        let hook = |provider: &str, id: &str, secret: &str, tail: &str| {
            format!("{base}/hooks/{provider}/{id}/{secret}{tail}")
        };
        let jivo = hook("jivo", seed::JIVO_INTEGRATION_ID, seed::JIVO_SECRET, "");
        for (name, url) in [
            ("Jivo chats:", jivo.clone()),
            (
                "Verbox dialogs:",
                hook(
                    "verbox",
                    seed::VERBOX_INTEGRATION_ID,
                    seed::VERBOX_SECRET,
                    "/chats",
                ),
            ),
            (
                "Verbox offline:",
                hook(
                    "verbox",
                    seed::VERBOX_INTEGRATION_ID,
                    seed::VERBOX_SECRET,
                    "/offline",
                ),
            ),
            (
                "amoCRM hooks:",
                hook(
                    "amocrm",
                    seed::AMOCRM_INTEGRATION_ID,
                    seed::AMOCRM_SECRET,
                    "",
                ),
            ),
            (
                "Bitrix24 events:",
                hook(
                    "bitrix24",
                    seed::BITRIX24_INTEGRATION_ID,
                    seed::BITRIX24_SECRET,
                    "",
                ),
            ),
        ] {
            let _ = writeln!(text, "  {name:<18} {url}");
        }
        let _ = writeln!(
            text,
            "  Site script:       {}",
            tracker::script_tag(base, "site_demo_shop")
        );
        let _ = writeln!(text);
        let _ = writeln!(text, "Post a finished Jivo chat, then read it back:");
        let _ = writeln!(
            text,
            "  curl -s {jivo} -H 'content-type: application/json' --data-binary @events/jivo/bodies/chat_finished.json"
        );
    }
    let _ = writeln!(
        text,
        "  curl -s '{base}/api/appeals' -H 'authorization: Bearer {key}'"
    );
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
