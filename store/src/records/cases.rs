//! Cases and their members.

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;

use super::db_error;
use crate::db::rfc3339;
use crate::error::{ApiError, ApiResult};

/// A party named in a case (not necessarily a user of the store).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub name: String,
    pub side: String,
}

/// A user's place in a case.
#[derive(Clone, Debug, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Member {
    pub user: i64,
    pub name: String,
    pub role: String,
    pub side: Option<String>,
}

/// A case as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Case {
    pub id: i64,
    pub number: String,
    pub court: String,
    pub title: String,
    pub parties: Vec<Party>,
    pub created_at: String,
    pub members: Vec<Member>,
}

#[derive(sqlx::FromRow)]
struct CaseRow {
    id: i64,
    number: String,
    court: String,
    title: String,
    parties: String,
    created_ms: i64,
}

/// The case `id` with its members; `None` when there is none.
pub async fn find(pool: &AnyPool, id: i64) -> ApiResult<Option<Case>> {
    let Some(row) = sqlx::query_as::<_, CaseRow>(
        "SELECT id, number, court, title, parties, created_ms FROM cases WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(db_error("reading a case"))?
    else {
        return Ok(None);
    };
    let members = sqlx::query_as::<_, Member>(
        "SELECT users.id AS user, users.name AS name, case_members.role AS role, case_members.side AS side \
         FROM case_members JOIN users ON users.id = case_members.user_id WHERE case_id = $1 ORDER BY users.id",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .map_err(db_error("reading members"))?;
    let parties: Vec<Party> = serde_json::from_str(&row.parties)
        .map_err(|e| ApiError::internal(&format!("case {id}: its stored parties"), e))?;
    Ok(Some(Case {
        id: row.id,
        number: row.number,
        court: row.court,
        title: row.title,
        parties,
        created_at: rfc3339(row.created_ms),
        members,
    }))
}

/// The case `id`, or 404.
pub async fn get(pool: &AnyPool, id: i64) -> ApiResult<Case> {
    find(pool, id).await?.ok_or_else(ApiError::not_found)
}

/// The id of the case with court number `number`.
pub async fn id_by_number(pool: &AnyPool, number: &str) -> ApiResult<Option<i64>> {
    sqlx::query_scalar::<_, i64>("SELECT id FROM cases WHERE number = $1")
        .bind(number)
        .fetch_optional(pool)
        .await
        .map_err(db_error("finding a case by its number"))
}

/// Whether case `id` exists.
pub async fn exists(pool: &AnyPool, id: i64) -> ApiResult<bool> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT id FROM cases WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(db_error("reading a case"))?
            .is_some(),
    )
}

/// Ids of every case, or of the cases `member` belongs to.
pub async fn ids(pool: &AnyPool, member: Option<i64>) -> ApiResult<Vec<i64>> {
    match member {
        Some(user) => {
            sqlx::query_scalar::<_, i64>(
                "SELECT cases.id FROM cases JOIN case_members ON case_members.case_id = cases.id \
             WHERE case_members.user_id = $1 ORDER BY cases.id",
            )
            .bind(user)
            .fetch_all(pool)
            .await
        }
        None => {
            sqlx::query_scalar::<_, i64>("SELECT id FROM cases ORDER BY id")
                .fetch_all(pool)
                .await
        }
    }
    .map_err(db_error("listing cases"))
}

/// A new case, inside the caller's transaction; its id.
pub async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    number: &str,
    court: &str,
    title: &str,
    parties: &[Party],
    created_by: i64,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let parties = serde_json::to_string(parties).unwrap_or_else(|_| "[]".to_owned());
    sqlx::query_scalar::<_, i64>(
        "INSERT INTO cases (number, court, title, parties, created_by, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(number)
    .bind(court)
    .bind(title)
    .bind(parties)
    .bind(created_by)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}

/// The fields of a new case, checked: by the API and for every case a bundle brings in.
pub fn checked_case(
    number: &str,
    court: &str,
    title: &str,
    parties: &[Party],
) -> ApiResult<(String, String, String, Vec<Party>)> {
    let number = crate::validate::clean_text("number", number, 120)?;
    if number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(format!(
            "field `number`: {number:?} is only digits, which URLs read as a case id; a court number has more"
        )));
    }
    let court = crate::validate::clean_text("court", court, 200)?;
    let title = crate::validate::clean_text("title", title, 500)?;
    let mut clean = Vec::with_capacity(parties.len());
    for (i, p) in parties.iter().enumerate() {
        clean.push(Party {
            name: crate::validate::clean_text(&format!("parties[{i}].name"), &p.name, 200)?,
            side: crate::validate::side(&format!("parties[{i}].side"), &p.side)?,
        });
    }
    Ok((number, court, title, clean))
}

/// Make `user` a member of `case` inside the caller's transaction.
pub async fn add_member(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    case: i64,
    user: i64,
    role: &str,
    side: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO case_members (case_id, user_id, role, side) VALUES ($1, $2, $3, $4)")
        .bind(case)
        .bind(user)
        .bind(role)
        .bind(side)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// Remove a member from a case; whether they were one.
pub async fn remove_member(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    case: i64,
    user: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM case_members WHERE case_id = $1 AND user_id = $2")
        .bind(case)
        .bind(user)
        .execute(&mut **tx)
        .await
        .map(|done| done.rows_affected() > 0)
}
