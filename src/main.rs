//! The `chatd` command: serve (default), migrate, token, users.

use std::path::PathBuf;
use std::process::ExitCode;

use chatd::auth::{self, NewToken};
use chatd::config::Settings;
use chatd::startup::Application;
use chatd::store;
use sea_orm::TransactionTrait;

const USAGE: &str = "\
usage: chatd [--config PATH] [COMMAND]

commands:
  serve                         start the server (the default)
  migrate                       apply pending database migrations and exit
  token --user-id N [--username U] [--email E] [--first-name F] [--last-name L] [--ttl 1h]
                                print a token signed with the configured secret
  users list                    list known users
  users delete ID               delete a user, their one-to-one chats and the rooms they created

Settings come from settings.toml (or --config PATH) and CHAT__<SECTION>__<KEY> variables;
see docs/configuration.md.";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let config_path = match take_option(&mut args, "--config") {
        Ok(path) => path.map(PathBuf::from),
        Err(e) => return fail(&e),
    };
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::load(config_path.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(&format!("configuration error: {e}")),
    };
    let command: Vec<&str> = args.iter().map(String::as_str).collect();
    match command.as_slice() {
        [] | ["serve"] => serve(settings),
        ["migrate"] => run_async(async move {
            let db = store::connect(&settings.database)
                .await
                .map_err(|e| e.to_string())?;
            store::migrate(&db).await.map_err(|e| e.to_string())?;
            println!("migrations applied to {}", redact(&settings.database.url));
            Ok(())
        }),
        ["token", ..] => token(&settings, args[1..].to_vec()),
        ["users", "list"] => run_async(async move {
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
        ["users", "delete", id] => {
            let Ok(id) = id.parse::<i64>() else {
                return fail("users delete: ID must be an integer");
            };
            run_async(async move {
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
            })
        }
        _ => fail(&format!(
            "unknown command `{}`\n\n{USAGE}",
            command.join(" ")
        )),
    }
}

fn serve(settings: Settings) -> ExitCode {
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,sea_orm_migration=warn"),
    )
    .init();
    let system = actix_web::rt::System::new();
    let result = system.block_on(async move {
        let app = Application::build(settings.clone())
            .await
            .map_err(|e| e.to_string())?;
        print_banner(&settings, app.port());
        let handle = app.handle();
        actix_web::rt::spawn(async move {
            if actix_web::rt::signal::ctrl_c().await.is_ok() {
                log::info!("shutting down");
                handle.stop(true).await;
            }
        });
        app.run().await.map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn print_banner(settings: &Settings, port: u16) {
    let host = match settings.server.host.as_str() {
        "0.0.0.0" | "::" => "127.0.0.1",
        h => h,
    };
    let url = format!("ws://{host}:{port}{}", settings.server.websocket_path);
    println!("chatd is listening on {url}");
    println!("database: {}", redact(&settings.database.url));
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

fn token(settings: &Settings, mut args: Vec<String>) -> ExitCode {
    let opts = (|| -> Result<NewToken, String> {
        let user_id = take_option(&mut args, "--user-id")?
            .ok_or("token: --user-id is required")?
            .parse::<i64>()
            .map_err(|_| "token: --user-id must be an integer")?;
        let ttl = take_option(&mut args, "--ttl")?
            .map(|t| parse_duration(&t))
            .transpose()?
            .unwrap_or(3600);
        let token = NewToken {
            user_id,
            username: take_option(&mut args, "--username")?,
            email: take_option(&mut args, "--email")?,
            first_name: take_option(&mut args, "--first-name")?,
            last_name: take_option(&mut args, "--last-name")?,
            exp: Some(chrono::Utc::now().timestamp() + ttl),
        };
        if let Some(extra) = args.first() {
            return Err(format!("token: unexpected argument `{extra}`"));
        }
        Ok(token)
    })();
    match opts.and_then(|t| auth::issue(&settings.auth, &t).map_err(|e| e.to_string())) {
        Ok(jwt) => {
            println!("{jwt}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
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
    Ok(n * factor)
}

/// Removes `name VALUE` (or `name=VALUE`) from `args`.
fn take_option(args: &mut Vec<String>, name: &str) -> Result<Option<String>, String> {
    let prefix = format!("{name}=");
    if let Some(i) = args.iter().position(|a| a.starts_with(&prefix)) {
        let value = args.remove(i)[prefix.len()..].to_string();
        return Ok(Some(value));
    }
    let Some(i) = args.iter().position(|a| a == name) else {
        return Ok(None);
    };
    if i + 1 >= args.len() {
        return Err(format!("{name} needs a value"));
    }
    args.remove(i);
    Ok(Some(args.remove(i)))
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
