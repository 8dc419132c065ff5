//! `exhibit user add`: make a user of the store and print their token, once (the store keeps only its hash).

use serde_json::json;

use crate::client::{Store, UserCreated, UserList};
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
    },
    /// Every user's id, name and role (admin).
    List,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let store = args.store.client()?;
    match &args.action {
        Action::Add { name, role } => {
            let user = add(&store, name, role)?;
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

/// Add a user; the answer carries their token.
pub fn add(store: &Store, name: &str, role: &str) -> anyhow::Result<UserCreated> {
    Ok(store.post(
        "/api/users",
        &json!({ "name": name, "role": role }),
        &format!("adding user {name:?}"),
    )?)
}
