//! `exhibit user`: make users of the store (their first token printed once: the store keeps only its hash),
//! set the password they sign in to the browser with, and make, list and revoke their API tokens.

use serde_json::json;

use anyhow::Context as _;
use store::handlers::sign_in::{TokenCreated, TokenList};

use crate::client::{Lookups as _, Store, UserCreated, UserList};
use crate::commands::case::StoreArgs;
use crate::output;

/// The roles the store knows.
const ROLES: [&str; 5] = ["admin", "technician", "judge", "party", "appellate"];

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Add a user; their token is printed once.
    Add {
        /// Their name, unique in the store.
        name: String,
        /// Their role.
        #[arg(long, value_parser = ROLES)]
        role: String,
        /// Read the password they sign in to the browser with from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Every user's id, name and role (admin).
    List,
    /// Set a user's browser password (the first line of standard input); their sessions end. Your own needs
    /// your current password on the second line, unless you have none yet.
    Password {
        /// The user (id or name); yourself when left out.
        #[arg(long)]
        user: Option<String>,
    },
    /// API tokens for the command line: several per user, named, ending, revocable.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
}

#[derive(Debug, clap::Subcommand)]
enum TokenAction {
    /// Make a token (printed once).
    Create {
        /// What it is for ("laptop in court 3").
        name: String,
        /// Days until it stops working.
        #[arg(long, default_value_t = 90)]
        days: u64,
        /// The user (id or name); yourself when left out.
        #[arg(long)]
        user: Option<String>,
    },
    /// A user's tokens: id, name, made, ends, revoked (never the tokens themselves).
    List {
        /// The user (id or name); yourself when left out.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a token for good, by the id `list` shows.
    Revoke {
        /// The token's id (12 hex digits).
        id: String,
        /// The user (id or name); yourself when left out.
        #[arg(long)]
        user: Option<String>,
    },
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let store = args.store.client()?;
    match &args.action {
        Action::Add {
            name,
            role,
            password_stdin,
        } => {
            let password = if *password_stdin {
                Some(stdin_lines(1)?.remove(0))
            } else {
                None
            };
            let user = add(&store, name, role, password.as_deref())?;
            if args.store.json {
                return output::print_json(&serde_json::to_value(&user)?);
            }
            output::print_lines(&[
                format!(
                    "added user {} {:?} ({})",
                    user.id,
                    user.name,
                    user.role.as_str()
                ),
                format!("token (shown once; give it to them): {}", user.token),
            ])
        }
        Action::Password { user } => password(&store, user.as_deref(), args.store.json),
        Action::Token { action } => token(&store, action, args.store.json),
        Action::List => {
            let list: UserList = store.get("/api/users", "listing users")?;
            if args.store.json {
                return output::print_json(&json!({ "users": list.users }));
            }
            output::print_lines(
                &list
                    .users
                    .iter()
                    .map(|u| format!("{:>5}  {}  ({})", u.id, u.name, u.role))
                    .collect::<Vec<_>>(),
            )
        }
    }
}

/// Add a user (with a browser password, or none); the answer carries their token.
pub fn add(
    store: &Store,
    name: &str,
    role: &str,
    password: Option<&str>,
) -> anyhow::Result<UserCreated> {
    let mut body = json!({ "name": name, "role": role });
    if let Some(password) = password {
        body["password"] = json!(password);
    }
    Ok(store.post("/api/users", &body, &format!("adding user {name:?}"))?)
}

/// The first `count` lines of standard input, without their line ends (passwords never go on the command
/// line, where `ps` and the shell's history would show them).
fn stdin_lines(count: usize) -> anyhow::Result<Vec<String>> {
    use std::io::BufRead as _;
    let mut lines = Vec::with_capacity(count);
    for line in std::io::stdin().lock().lines().take(count) {
        lines.push(line.context("reading standard input")?);
    }
    anyhow::ensure!(
        lines.len() == count,
        "expected {count} line(s) on standard input"
    );
    Ok(lines)
}

/// The id of `user` (id or name), or the caller's own.
fn user_or_self(store: &Store, user: Option<&str>) -> anyhow::Result<i64> {
    if let Some(user) = user {
        return store.user_id(user);
    }
    let me: store::handlers::api::Whoami = store.get("/api/whoami", "asking who you are")?;
    Ok(me.id)
}

fn password(store: &Store, user: Option<&str>, json: bool) -> anyhow::Result<()> {
    let id = user_or_self(store, user)?;
    let own = user.is_none() || user_or_self(store, None)? == id;
    let lines = if own {
        // Your own: the new password, then the current one (an empty line when you have none yet).
        let mut lines = stdin_lines(1)?;
        let current = stdin_lines(1).map(|mut l| l.remove(0)).unwrap_or_default();
        lines.push(current);
        lines
    } else {
        stdin_lines(1)?
    };
    let mut body = json!({ "password": lines[0] });
    if lines.len() > 1 && !lines[1].is_empty() {
        body["current_password"] = json!(lines[1]);
    }
    store.change(
        reqwest_method("PUT"),
        &format!("/api/users/{id}/password"),
        Some(&body),
        &format!("setting user {id}'s password"),
    )?;
    if json {
        return output::print_json(&json!({ "user": id, "password_set": true }));
    }
    output::print_lines(&[format!(
        "user {id}: password set; their sessions have ended"
    )])
}

fn reqwest_method(name: &str) -> ingest::client::Method {
    ingest::client::Method::from_bytes(name.as_bytes()).unwrap_or(ingest::client::Method::GET)
}

fn token(store: &Store, action: &TokenAction, json: bool) -> anyhow::Result<()> {
    match action {
        TokenAction::Create { name, days, user } => {
            let id = user_or_self(store, user.as_deref())?;
            let made: TokenCreated = store.post(
                &format!("/api/users/{id}/tokens"),
                &json!({ "name": name, "expires_in_seconds": days.saturating_mul(86_400) }),
                "making a token",
            )?;
            if json {
                return output::print_json(&serde_json::to_value(&made)?);
            }
            output::print_lines(&[
                format!(
                    "token {} {:?} for user {id}, ends {}",
                    made.id,
                    made.name,
                    store::db::rfc3339(made.expires_ms)
                ),
                format!("token (shown once): {}", made.token),
            ])
        }
        TokenAction::List { user } => {
            let id = user_or_self(store, user.as_deref())?;
            let list: TokenList =
                store.get(&format!("/api/users/{id}/tokens"), "listing tokens")?;
            if json {
                return output::print_json(&serde_json::to_value(&list)?);
            }
            output::print_lines(
                &list
                    .tokens
                    .iter()
                    .map(|t| {
                        let state = match (t.revoked_ms, t.expires_ms) {
                            (Some(at), _) => format!("revoked {}", store::db::rfc3339(at)),
                            (None, Some(end)) => format!("ends {}", store::db::rfc3339(end)),
                            (None, None) => "never ends".to_owned(),
                        };
                        format!(
                            "{}  {:?}  made {}  {state}",
                            t.id,
                            t.name,
                            store::db::rfc3339(t.created_ms)
                        )
                    })
                    .collect::<Vec<_>>(),
            )
        }
        TokenAction::Revoke { id, user } => {
            let owner = user_or_self(store, user.as_deref())?;
            store.change(
                reqwest_method("DELETE"),
                &format!("/api/users/{owner}/tokens/{}", crate::client::segment(id)),
                None,
                "revoking a token",
            )?;
            if json {
                return output::print_json(&json!({ "revoked": id, "user": owner }));
            }
            output::print_lines(&[format!("token {id} of user {owner} revoked")])
        }
    }
}
