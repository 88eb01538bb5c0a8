//! The `chatd` command: serve (default), migrate, token, users.

use std::path::PathBuf;
use std::process::ExitCode;

use chatd::auth::{self, NewToken};
use chatd::config::Settings;
use chatd::startup::Application;
use chatd::{logging, store};
use clap::{Args, Parser, Subcommand};
use sea_orm::TransactionTrait;

/// chatd: a real-time chat service with one WebSocket endpoint.
///
/// Without a command, `chatd` starts the server.
#[derive(Parser)]
#[command(
    name = "chatd",
    version,
    after_help = "Settings come from the compiled-in defaults, then settings.toml in the working \
                  directory (or --config PATH), then CHAT__<SECTION>__<KEY> environment \
                  variables; docs/configuration.md describes every key. RUST_LOG sets the log \
                  level."
)]
struct Cli {
    /// Read settings from this file instead of ./settings.toml.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server (the default).
    ///
    /// Applies pending migrations, then serves the WebSocket endpoint, /healthz, /readyz,
    /// /metrics and (with console.enabled) the browser console. SIGTERM or Ctrl-C drains:
    /// /readyz reports 503 for server.drain_seconds, then connections are closed with 1001;
    /// a second signal stops at once.
    Serve,
    /// Apply pending database migrations and exit (the server also does this at start).
    Migrate,
    /// Print a token signed with the configured secret (auth.jwt_secret).
    ///
    /// The token carries the claims the host application's tokens would: the user id under
    /// auth.user_id_claim, and the optional profile claims, which create or update the user
    /// when the token connects.
    Token(TokenArgs),
    /// List or delete users.
    #[command(subcommand)]
    Users(UsersCommand),
}

#[derive(Args)]
struct TokenArgs {
    /// The user id the token authenticates.
    #[arg(long, value_name = "N")]
    user_id: i64,
    /// The `username` claim.
    #[arg(long, value_name = "U")]
    username: Option<String>,
    /// The `email` claim.
    #[arg(long, value_name = "E")]
    email: Option<String>,
    /// The `first_name` claim.
    #[arg(long, value_name = "F")]
    first_name: Option<String>,
    /// The `last_name` claim.
    #[arg(long, value_name = "L")]
    last_name: Option<String>,
    /// How long the token is valid: seconds, or a number with s, m, h or d.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    ttl: i64,
}

#[derive(Subcommand)]
enum UsersCommand {
    /// List known users (id, username, email, name).
    List,
    /// Delete a user, their one-to-one chats and the rooms they created.
    Delete {
        /// The user's id.
        id: i64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(&format!("configuration error: {e}")),
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Migrate => run_async(async move {
            let db = store::connect(&settings.database)
                .await
                .map_err(|e| e.to_string())?;
            store::migrate(&db).await.map_err(|e| e.to_string())?;
            println!("migrations applied to {}", redact(&settings.database.url));
            Ok(())
        }),
        Command::Token(args) => token(&settings, args),
        Command::Users(UsersCommand::List) => run_async(async move {
            let db = store::connect(&settings.database)
                .await
                .map_err(|e| e.to_string())?;
            store::migrate(&db).await.map_err(|e| e.to_string())?;
            let users = store::users::list(&db).await.map_err(|e| e.to_string())?;
            println!("{:>8}  {:<20} {:<28} name", "id", "username", "email");
            for u in users {
                println!(
                    "{:>8}  {:<20} {:<28} {} {}",
                    u.id, u.username, u.email, u.first_name, u.last_name
                );
            }
            Ok(())
        }),
        Command::Users(UsersCommand::Delete { id }) => run_async(async move {
            let db = store::connect(&settings.database)
                .await
                .map_err(|e| e.to_string())?;
            store::migrate(&db).await.map_err(|e| e.to_string())?;
            let txn = db.begin().await.map_err(|e| e.to_string())?;
            let existed = store::users::delete(&txn, id)
                .await
                .map_err(|e| e.to_string())?;
            txn.commit().await.map_err(|e| e.to_string())?;
            if existed {
                println!("deleted user {id}");
                Ok(())
            } else {
                Err(format!("no user with id {id}"))
            }
        }),
    }
}

fn serve(settings: Settings) -> ExitCode {
    logging::init(&settings.log);
    let system = actix_web::rt::System::new();
    let result = system.block_on(async move {
        let app = Application::build(settings.clone())
            .await
            .map_err(|e| e.to_string())?;
        print_banner(&settings, &app);
        let shutdown = app.shutdown();
        actix_web::rt::spawn(async move {
            if stop_signal().await.is_err() {
                return;
            }
            log::info!("shutting down (a second signal stops at once)");
            let draining = actix_web::rt::spawn(shutdown.graceful());
            if stop_signal().await.is_ok() {
                log::info!("stopping now");
                shutdown.now();
            }
            let _ = draining.await;
        });
        app.run().await.map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Ctrl-C, or SIGTERM (what systemd and container runtimes send).
async fn stop_signal() -> std::io::Result<()> {
    use actix_web::rt::signal::{self, unix};
    let mut term = unix::signal(unix::SignalKind::terminate())?;
    tokio::select! {
        result = signal::ctrl_c() => result,
        _ = term.recv() => Ok(()),
    }
}

/// Where a local browser reaches a listener bound to `host`.
fn reachable(host: &str) -> &str {
    match host {
        "0.0.0.0" | "::" => "127.0.0.1",
        h => h,
    }
}

fn print_banner(settings: &Settings, app: &Application) {
    let host = reachable(&settings.server.host);
    let port = app.port();
    let url = format!("ws://{host}:{port}{}", settings.server.websocket_path);
    println!("chatd is listening on {url}");
    if settings.console.enabled {
        println!("console:  http://{host}:{port}/   <- open it in two browser tabs and chat");
    }
    println!("database: {}", redact(&settings.database.url));
    println!("health:   http://{host}:{port}/healthz  http://{host}:{port}/readyz");
    if let Some(metrics_port) = app.metrics_port() {
        let metrics_host = settings.metrics_bind().map_or(host, |(h, _)| reachable(h));
        println!("metrics:  http://{metrics_host}:{metrics_port}/metrics");
    }
    println!(
        "connect:  {url}?token=<JWT with a `{}` claim>",
        settings.auth.user_id_claim
    );
    println!("a token:  cargo run --release -- token --user-id 1 --username alice");
    if settings.uses_development_secret() {
        log::warn!(
            "auth.jwt_secret is the development secret shipped in settings.toml: anyone can \
             mint tokens. Set CHAT__AUTH__JWT_SECRET before deploying."
        );
    }
}

fn token(settings: &Settings, args: TokenArgs) -> ExitCode {
    let token = NewToken {
        user_id: args.user_id,
        username: args.username,
        email: args.email,
        first_name: args.first_name,
        last_name: args.last_name,
        exp: Some(chrono::Utc::now().timestamp().saturating_add(args.ttl)),
    };
    match auth::issue(&settings.auth, &token) {
        Ok(jwt) => {
            println!("{jwt}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}

/// `90`, `90s`, `15m`, `1h`, `7d` → seconds.
fn parse_duration(raw: &str) -> Result<i64, String> {
    let raw = raw.trim();
    let (digits, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("bad duration `{raw}`"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("bad duration `{raw}` (use s, m, h or d)")),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("duration `{raw}` is too long"))
}

/// Hides a password in a database URL.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn run_async(fut: impl std::future::Future<Output = Result<(), String>>) -> ExitCode {
    match actix_web::rt::System::new().block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("chatd: {message}");
    ExitCode::FAILURE
}
