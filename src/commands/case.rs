//! `exhibit case`: open, list and show cases, and add their members, from the command line (the clerk's
//! and the technician's work, without curl). A case is named by its id or its court number everywhere.

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::client::{Case, Lookups as _, Store};
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    store: StoreArgs,
}

/// Where the store is and who calls it (shared by `case`, `evidence` and `user`).
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// The store's address, e.g. `http://127.0.0.1:8080`.
    #[arg(
        long,
        global = true,
        env = "EXHIBIT_STORE",
        default_value = "http://127.0.0.1:8080"
    )]
    pub store: String,
    /// Bearer token (or the environment variable `EXHIBIT_TOKEN`).
    #[arg(
        long,
        global = true,
        env = "EXHIBIT_TOKEN",
        hide_env_values = true,
        default_value = "",
        hide_default_value = true
    )]
    pub token: String,
    /// Print one JSON object on stdout instead of sentences.
    #[arg(long, global = true)]
    pub json: bool,
}

impl StoreArgs {
    pub fn client(&self) -> anyhow::Result<Store> {
        if self.token.is_empty() {
            anyhow::bail!(
                "no token: pass --token or set EXHIBIT_TOKEN (the store's first start writes an admin token to DATA/admin.token)"
            );
        }
        Ok(Store::new(&self.store, &self.token)?)
    }
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Open a case: `case open --number "(2026)鲁01知民初1号" --court … --title … --party NAME:plaintiff`.
    Open {
        /// The court's number for the case.
        #[arg(long)]
        number: String,
        /// The court.
        #[arg(long)]
        court: String,
        /// What the case is about.
        #[arg(long)]
        title: String,
        /// A party, `NAME:SIDE` (side: plaintiff, defendant or `third_party`); repeat for each.
        #[arg(long = "party", value_parser = parse_party)]
        parties: Vec<(String, String)>,
    },
    /// The cases the caller may see.
    List,
    /// One case with its members and evidence.
    Show {
        /// Its id or court number.
        case: String,
    },
    /// Make a user (a judge or a party) a member of a case.
    AddMember {
        /// The case: id or court number.
        case: String,
        /// The user: id or name.
        user: String,
        /// `judge` or `party` (the user's own role; the other roles reach every case).
        #[arg(long)]
        role: String,
        /// A party's side: plaintiff, defendant or `third_party`.
        #[arg(long)]
        side: Option<String>,
    },
}

/// `NAME:SIDE`, split at the last colon (names may hold colons; sides never do).
fn parse_party(text: &str) -> Result<(String, String), String> {
    let (name, side) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("{text:?}: expected NAME:SIDE, e.g. \"Acme Ltd:plaintiff\""))?;
    if name.trim().is_empty() {
        return Err(format!("{text:?}: the party has no name"));
    }
    Ok((name.trim().to_owned(), side.trim().to_owned()))
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let store = args.store.client()?;
    let json = args.store.json;
    match &args.action {
        Action::Open {
            number,
            court,
            title,
            parties,
        } => {
            let case = open(&store, number, court, title, parties)?;
            report_case(&case, json, "opened")
        }
        Action::List => {
            let list: store::handlers::api::CaseList = store.get("/api/cases", "listing cases")?;
            if json {
                return output::print_json(&json!({ "cases": list.cases }));
            }
            let mut lines: Vec<String> = list
                .cases
                .iter()
                .map(|c| format!("{:>5}  {}  {}  ({})", c.id, c.number, c.title, c.court))
                .collect();
            if lines.is_empty() {
                lines.push("no cases you may see".to_owned());
            }
            output::print_lines(&lines)
        }
        Action::Show { case } => {
            let found = store.case(case)?;
            let evidence: store::handlers::api::EvidenceList = store.get(
                &format!("/api/cases/{}/evidence", found.id),
                &format!("listing the evidence of case {}", found.number),
            )?;
            if json {
                let mut value = serde_json::to_value(&found)?;
                value["evidence"] = serde_json::to_value(&evidence.evidence)?;
                return output::print_json(&value);
            }
            let mut lines = describe(&found);
            for item in &evidence.evidence {
                lines.push(format!(
                    "  evidence {} {:?} ({}), {} version(s)",
                    item.id,
                    item.label,
                    item.kind,
                    item.versions.len()
                ));
            }
            output::print_lines(&lines)
        }
        Action::AddMember {
            case,
            user,
            role,
            side,
        } => {
            let updated = add_member(&store, case, user, role, side.as_deref())?;
            report_case(&updated, json, "member added to")
        }
    }
}

/// Open a case; the answer is the case as stored.
pub fn open(
    store: &Store,
    number: &str,
    court: &str,
    title: &str,
    parties: &[(String, String)],
) -> anyhow::Result<Case> {
    let parties: Vec<Value> = parties
        .iter()
        .map(|(name, side)| json!({ "name": name, "side": side }))
        .collect();
    Ok(store.post(
        "/api/cases",
        &json!({ "number": number, "court": court, "title": title, "parties": parties }),
        &format!("opening case {number}"),
    )?)
}

/// Make `user` (id or name) a member of `case` (id or number) as `role`.
pub fn add_member(
    store: &Store,
    case: &str,
    user: &str,
    role: &str,
    side: Option<&str>,
) -> anyhow::Result<Case> {
    let case_id = store.case_id(case)?;
    let user_id = store.user_id(user)?;
    store
        .post(
            &format!("/api/cases/{case_id}/members"),
            &json!({ "user": user_id, "role": role, "side": side }),
            &format!("adding {user} to case {case}"),
        )
        .with_context(|| format!("case {case}"))
}

fn describe(case: &Case) -> Vec<String> {
    let mut lines = vec![format!(
        "case {} {} — {} ({})",
        case.id, case.number, case.title, case.court
    )];
    for party in &case.parties {
        lines.push(format!("  party {} ({})", party.name, party.side));
    }
    // Issue 21: these were JSON lookups, and `member["id"]` printed "null" for every member (the field is `user`).
    for member in &case.members {
        lines.push(format!(
            "  member {} {} ({}{})",
            member.user,
            member.name,
            member.role,
            member
                .side
                .as_deref()
                .map(|s| format!(", {s}"))
                .unwrap_or_default()
        ));
    }
    lines
}

fn report_case(case: &Case, json: bool, what: &str) -> anyhow::Result<()> {
    if json {
        return output::print_json(&serde_json::to_value(case)?);
    }
    let mut lines = vec![format!("{what} case {} (id {})", case.number, case.id)];
    lines.extend(describe(case).into_iter().skip(1));
    output::print_lines(&lines)
}

#[cfg(test)]
mod tests {
    use super::parse_party;

    #[test]
    fn parties_split_at_the_last_colon() {
        assert_eq!(
            parse_party("Acme: Lamps Ltd:plaintiff"),
            Ok(("Acme: Lamps Ltd".to_owned(), "plaintiff".to_owned()))
        );
        assert!(parse_party("no side").is_err());
        assert!(parse_party(":defendant").is_err());
    }
}
