//! The command line's side of the one store client (`ingest::client::Store`, which the upload uses too): the
//! lookups that need the store's own types. Cases are named by id or court number and evidence items by id or
//! label everywhere on the command line; [`Lookups::case_id`] and [`Lookups::evidence_id`] turn those names
//! into the ids the upload protocol carries.

use std::fmt::Write as _;

use anyhow::Context as _;

pub use ingest::client::Store;
/// A case as the API answers with it: the store's own type, so the two never drift apart.
pub use store::records::cases::Case;

/// Users as the API answers with them: `POST /api/users` (with the token, shown once) and `GET /api/users`.
pub use store::handlers::api::{UserCreated, UserList};

/// Finding cases, evidence items and users by the names people use.
pub trait Lookups {
    /// The id of the case named `case`: an id as it is, a court number looked up (the store answers 404 alike
    /// for a case that does not exist and one the caller may not see).
    fn case_id(&self, case: &str) -> anyhow::Result<i64>;
    /// The case named `case` (id or court number).
    fn case(&self, case: &str) -> anyhow::Result<Case>;
    /// The id of the evidence item named `evidence` in case `case`: an id as it is, a label looked up.
    fn evidence_id(&self, case: i64, evidence: &str) -> anyhow::Result<i64>;
    /// The id of the user named `user`: an id as it is, a name looked up (needs the right to manage users).
    fn user_id(&self, user: &str) -> anyhow::Result<i64>;
}

impl Lookups for Store {
    fn case_id(&self, case: &str) -> anyhow::Result<i64> {
        if let Some(id) = as_id(case) {
            return Ok(id);
        }
        Ok(self.case(case)?.id)
    }

    fn case(&self, case: &str) -> anyhow::Result<Case> {
        Ok(self.get(
            &format!("/api/cases/{}", segment(case)),
            &format!("reading case {case}"),
        )?)
    }

    fn evidence_id(&self, case: i64, evidence: &str) -> anyhow::Result<i64> {
        if let Some(id) = as_id(evidence) {
            return Ok(id);
        }
        let list: store::handlers::api::EvidenceList = self.get(
            &format!("/api/cases/{case}/evidence"),
            &format!("listing the evidence of case {case}"),
        )?;
        list.evidence
            .iter()
            .find(|item| item.label == evidence)
            .map(|item| item.id)
            .with_context(|| {
                let labels: Vec<&str> = list.evidence.iter().map(|i| i.label.as_str()).collect();
                format!(
                    "case {case} has no evidence item labelled {evidence:?} (it has: {})",
                    if labels.is_empty() {
                        "none".to_owned()
                    } else {
                        labels.join(", ")
                    }
                )
            })
    }

    fn user_id(&self, user: &str) -> anyhow::Result<i64> {
        if let Some(id) = as_id(user) {
            return Ok(id);
        }
        let list: UserList = self.get("/api/users", "listing users")?;
        list.users
            .iter()
            .find(|u| u.name == user)
            .map(|u| u.id)
            .with_context(|| format!("the store has no user named {user:?}"))
    }
}

/// A name that is all digits is an id (court numbers, labels and names always hold more than digits).
fn as_id(name: &str) -> Option<i64> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// One URL path segment: a court number such as `(2026)鲁01知民初1号` percent-encoded.
#[must_use]
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn court_numbers_become_one_path_segment() {
        assert_eq!(segment("12"), "12");
        assert_eq!(
            segment("(2026)鲁01知民初1号"),
            "%282026%29%E9%B2%8101%E7%9F%A5%E6%B0%91%E5%88%9D1%E5%8F%B7"
        );
        assert_eq!(segment("a/b?c#d"), "a%2Fb%3Fc%23d");
    }
}
