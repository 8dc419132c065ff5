//! `exhibit evidence add`: register an evidence item in a case (the object a model will stand for).

use serde_json::{Value, json};

use crate::client::{Lookups as _, Store};
use crate::commands::case::StoreArgs;
use crate::output;

/// The kinds the store knows.
const KINDS: [&str; 4] = ["patented_design", "accused_product", "prior_art", "other"];

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Add an evidence item to a case.
    Add {
        /// The case: id or court number.
        case: String,
        /// Its label, unique within the case (`原告专利产品`, `Exhibit P-3`).
        #[arg(long)]
        label: String,
        /// What it is.
        #[arg(long, value_parser = KINDS)]
        kind: String,
        /// Who submitted it (default: the caller's name).
        #[arg(long)]
        submitted_by: Option<String>,
        /// A description.
        #[arg(long, default_value = "")]
        description: String,
    },
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let store = args.store.client()?;
    match &args.action {
        Action::Add {
            case,
            label,
            kind,
            submitted_by,
            description,
        } => {
            let item = add(
                &store,
                case,
                label,
                kind,
                submitted_by.as_deref(),
                description,
            )?;
            if args.store.json {
                return output::print_json(&item);
            }
            output::print_lines(&[format!(
                "added evidence {} {:?} ({kind}) to case {case}",
                item["id"],
                item["label"].as_str().unwrap_or_default()
            )])
        }
    }
}

/// Add an evidence item; the answer is the item as stored.
pub fn add(
    store: &Store,
    case: &str,
    label: &str,
    kind: &str,
    submitted_by: Option<&str>,
    description: &str,
) -> anyhow::Result<Value> {
    let case_id = store.case_id(case)?;
    let submitted_by = if let Some(name) = submitted_by {
        name.to_owned()
    } else {
        let me: Value = store.get("/api/whoami", "asking who the token belongs to")?;
        me["name"].as_str().unwrap_or("unknown").to_owned()
    };
    Ok(store.post(
        &format!("/api/cases/{case_id}/evidence"),
        &json!({
            "label": label,
            "kind": kind,
            "submitted_by": submitted_by,
            "description": description,
        }),
        &format!("adding evidence {label:?} to case {case}"),
    )?)
}
