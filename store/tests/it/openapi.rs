//! The `OpenAPI` document is generated from the code; here real answers of the store are checked against the
//! schemas it declares for them, so that a field renamed, retyped or dropped in a handler shows.

use serde_json::{Value, json};

use crate::app::App;

/// Check `value` against `schema` (the subset of JSON Schema the generator writes: `type`, `properties`,
/// `required`, `items`, `$ref`, `allOf`, `oneOf`, `anyOf`, `enum`); the problems, each with its JSON path.
fn check(document: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    check_part(document, schema, value, at, problems, true);
}

/// The schema `reference` names.
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            let target = &document["components"]["schemas"][name];
            assert!(!target.is_null(), "{reference} is not in the document");
            resolve(document, target)
        }
        None => schema,
    }
}

/// Every property an object schema declares, through `$ref` and `allOf`.
fn declared(document: &Value, schema: &Value, out: &mut std::collections::BTreeSet<String>) {
    let schema = resolve(document, schema);
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        out.extend(properties.keys().cloned());
    }
    for part in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        declared(document, part, out);
    }
}

/// [`check`]; `whole` is false for one part of an `allOf`, whose fields are only some of the object's.
fn check_part(
    document: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    problems: &mut Vec<String>,
    whole: bool,
) {
    let schema = resolve(document, schema);
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for part in all {
            check_part(document, part, value, at, problems, false);
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let fits = options.iter().any(|option| {
                let mut inner = Vec::new();
                check(document, option, value, at, &mut inner);
                inner.is_empty()
            });
            if !fits {
                problems.push(format!("{at}: {value} fits none of {key} {schema}"));
            }
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        problems.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let Some(kind) = schema.get("type") {
        let kinds: Vec<&str> = match kind {
            Value::String(k) => vec![k.as_str()],
            Value::Array(ks) => ks.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let fits = kinds.iter().any(|k| match *k {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        });
        if !fits {
            problems.push(format!("{at}: {value} is not {kind}"));
            return;
        }
    }
    if let (Some(properties), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object(),
    ) {
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(name) {
                problems.push(format!("{at}: required field `{name}` is missing"));
            }
        }
        for (name, property) in properties {
            if let Some(inner) = object.get(name) {
                check(document, property, inner, &format!("{at}.{name}"), problems);
            }
        }
    }
    // A field the answer has that the schema does not declare: the document drifted from the code.
    if let Some(object) = value.as_object()
        && whole
        && schema
            .get("additionalProperties")
            .is_none_or(|a| a == &json!(false))
        && (schema.get("properties").is_some() || schema.get("allOf").is_some())
    {
        let mut known = std::collections::BTreeSet::new();
        declared(document, schema, &mut known);
        for name in object.keys() {
            if !known.contains(name) {
                problems.push(format!("{at}: field `{name}` is not in the schema"));
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            check(document, items, item, &format!("{at}[{i}]"), problems);
        }
    }
}

/// The schema the document gives for `method path` answering `status` (JSON bodies).
fn response_schema<'a>(document: &'a Value, method: &str, path: &str, status: u16) -> &'a Value {
    let schema = &document["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]
        ["schema"];
    assert!(
        !schema.is_null(),
        "{method} {path} {status}: no JSON schema in the document"
    );
    schema
}

#[tokio::test]
async fn real_answers_fit_the_generated_document() {
    let app = App::new().await;
    let court = app.court().await;
    let document: Value = serde_json::from_str(store::handlers::openapi::document_json()).unwrap();
    assert_eq!(app.get("/api/openapi.json", "").await.json(), document);
    let link = app
        .post(
            "/api/shares",
            &court.judge,
            json!({ "model": court.model, "view": "front" }),
        )
        .await;
    let confirmation = app
        .post(
            &format!("/api/versions/{}/confirmations", court.model),
            &court.plaintiff,
            json!({ "decision": "object", "reason": "the lamp's arm is bent" }),
        )
        .await;
    let report = json!({
        "a": {"sha256": court.model}, "b": {"sha256": court.model},
        "transform": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1],
        "mean_mm": 0.0, "rms_mm": 0.0, "p95_mm": 0.0, "max_mm": 0.0, "within_tolerance": 1.0,
        "tolerance_mm": 0.5, "alignment": {"method": "none", "rms_mm": 0.0}
    });
    let saved = app
        .post(
            &format!("/api/cases/{}/comparisons", court.case),
            &court.judge,
            json!({ "report": report }),
        )
        .await;
    let user = app
        .post(
            "/api/users",
            &app.admin,
            json!({ "name": "clerk", "role": "technician" }),
        )
        .await;
    let upload_id: String = sqlx::query_scalar("SELECT id FROM uploads LIMIT 1")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let case = court.case;
    let answers = [
        ("post", "/api/shares", link),
        ("post", "/api/versions/{sha256}/confirmations", confirmation),
        ("post", "/api/cases/{case}/comparisons", saved),
        ("post", "/api/users", user),
        (
            "get",
            "/api/whoami",
            app.get("/api/whoami", &court.judge).await,
        ),
        ("get", "/api/users", app.get("/api/users", &app.admin).await),
        (
            "get",
            "/api/cases",
            app.get("/api/cases", &court.judge).await,
        ),
        (
            "get",
            "/api/cases/{case}",
            app.get(&format!("/api/cases/{case}"), &court.judge).await,
        ),
        (
            "get",
            "/api/cases/{case}/evidence",
            app.get(&format!("/api/cases/{case}/evidence"), &court.judge)
                .await,
        ),
        (
            "get",
            "/api/evidence/{evidence}",
            app.get(&format!("/api/evidence/{}", court.evidence), &court.judge)
                .await,
        ),
        (
            "get",
            "/api/cases/{case}/events",
            app.get(&format!("/api/cases/{case}/events"), &court.judge)
                .await,
        ),
        (
            "get",
            "/api/cases/{case}/comparisons",
            app.get(&format!("/api/cases/{case}/comparisons"), &court.judge)
                .await,
        ),
        (
            "get",
            "/api/comparisons/{id}",
            app.get("/api/comparisons/1", &court.judge).await,
        ),
        (
            "get",
            "/api/shares",
            app.get(&format!("/api/shares?case={case}"), &court.judge)
                .await,
        ),
        (
            "get",
            "/api/log/checkpoint",
            app.get("/api/log/checkpoint", "").await,
        ),
        (
            "get",
            "/api/log/inclusion",
            app.get("/api/log/inclusion?seq=3", "").await,
        ),
        (
            "get",
            "/api/log/consistency",
            app.get("/api/log/consistency?from=2", "").await,
        ),
        (
            "get",
            "/api/log/entries/{seq}",
            app.get("/api/log/entries/2", &app.admin).await,
        ),
        (
            "get",
            "/api/uploads/{id}",
            app.get(&format!("/api/uploads/{upload_id}"), &court.technician)
                .await,
        ),
        (
            "post",
            "/api/admin/log-check",
            app.post("/api/admin/log-check", &app.admin, json!({}))
                .await,
        ),
        (
            "post",
            "/api/admin/scrub",
            app.post("/api/admin/scrub", &app.admin, json!({})).await,
        ),
        // A refusal has its schema too.
        (
            "get",
            "/api/cases/{case}",
            app.get("/api/cases/999", &court.judge).await,
        ),
        ("get", "/api/whoami", app.get("/api/whoami", "").await),
    ];
    let mut problems = Vec::new();
    for (method, path, answer) in &answers {
        let status = answer.status.as_u16();
        let schema = response_schema(&document, method, path, status);
        check(
            &document,
            schema,
            &answer.json(),
            &format!("{method} {path} {status}"),
            &mut problems,
        );
    }
    assert!(
        problems.is_empty(),
        "answers that do not fit the document:\n{}",
        problems.join("\n")
    );
}
