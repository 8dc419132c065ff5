//! One store in a temporary folder and a way to call it.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use base64::Engine as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// A store and its admin's token.
pub struct App {
    pub state: Arc<store::AppState>,
    pub router: Router,
    pub admin: String,
    pub dir: tempfile::TempDir,
}

/// An answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A case with a judge, two parties and an outsider, one evidence item and one model version.
pub struct Court {
    pub technician: String,
    pub judge: String,
    pub plaintiff: String,
    pub outsider: String,
    pub case: i64,
    pub evidence: i64,
    pub model: String,
}

impl App {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = store::Config::new(dir.path().join("data"));
        config.idle_timeout = std::time::Duration::from_secs(2);
        let (state, token_file) = store::open(config, "http://store.test").await.unwrap();
        let admin = std::fs::read_to_string(token_file.unwrap())
            .unwrap()
            .trim()
            .to_owned();
        Self {
            router: store::router(Arc::clone(&state)),
            state,
            admin,
            dir,
        }
    }

    /// Send a request; `body` is JSON when given.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Answer {
        let bearer = format!("Bearer {token}");
        let headers: &[(&str, &str)] = if token.is_empty() {
            &[]
        } else {
            &[("authorization", &bearer)]
        };
        self.call_with(method, path, headers, body).await
    }

    /// Send a request with these headers; `body` is JSON when given.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        self.send(request).await
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// POST that must answer 201; its JSON.
    pub async fn create(&self, path: &str, token: &str, body: Value) -> Value {
        let answer = self.post(path, token, body).await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "{path}: {}",
            answer.text()
        );
        answer.json()
    }

    pub async fn user(&self, name: &str, role: &str) -> (i64, String) {
        let made = self
            .create(
                "/api/users",
                &self.admin,
                json!({ "name": name, "role": role }),
            )
            .await;
        (
            made["id"].as_i64().unwrap(),
            made["token"].as_str().unwrap().to_owned(),
        )
    }

    /// Upload `bytes` with tus in one PATCH; the answer to the PATCH.
    pub async fn upload(
        &self,
        token: &str,
        case: i64,
        evidence: i64,
        kind: &str,
        filename: &str,
        bytes: &[u8],
    ) -> Answer {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let sha = codec::manifest::sha256_hex(bytes);
        let metadata = format!(
            "case {},evidence {},kind {},filename {},sha256 {}",
            b64(&case.to_string()),
            b64(&evidence.to_string()),
            b64(kind),
            b64(filename),
            b64(&sha)
        );
        let created = self
            .send(
                Request::post("/api/uploads")
                    .header("authorization", format!("Bearer {token}"))
                    .header("tus-resumable", "1.0.0")
                    .header("upload-length", bytes.len())
                    .header("upload-metadata", metadata)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
        let location = created.headers["location"].to_str().unwrap().to_owned();
        let path = location
            .strip_prefix("http://store.test")
            .unwrap_or(&location)
            .to_owned();
        self.send(
            Request::patch(path)
                .header("authorization", format!("Bearer {token}"))
                .header("tus-resumable", "1.0.0")
                .header("upload-offset", 0)
                .header("content-type", "application/offset+octet-stream")
                .body(Body::from(bytes.to_vec()))
                .unwrap(),
        )
        .await
    }

    /// The court of [`Court`], its model the workspace's sample GLB.
    pub async fn court(&self) -> Court {
        let (_, technician) = self.user("technician", "technician").await;
        let (judge_id, judge) = self.user("judge", "judge").await;
        let (plaintiff_id, plaintiff) = self.user("plaintiff", "party").await;
        let (outsider_id, outsider) = self.user("outsider", "party").await;
        let case = self
            .create(
                "/api/cases",
                &self.admin,
                json!({ "number": "(2026)鲁01知民初7号", "court": "济南市中级人民法院", "title": "路灯" }),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        let other = self
            .create(
                "/api/cases",
                &self.admin,
                json!({ "number": "(2026)鲁01知民初8号", "court": "济南市中级人民法院", "title": "other" }),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        for (c, user, role, side) in [
            (case, judge_id, "judge", None),
            (case, plaintiff_id, "party", Some("plaintiff")),
            (other, outsider_id, "party", Some("plaintiff")),
        ] {
            self.create(
                &format!("/api/cases/{c}/members"),
                &self.admin,
                json!({ "user": user, "role": role, "side": side }),
            )
            .await;
        }
        let evidence = self
            .create(
                &format!("/api/cases/{case}/evidence"),
                &technician,
                json!({ "label": "路灯", "kind": "patented_design", "submitted_by": "甲" }),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        let glb = sample_glb();
        let uploaded = self
            .upload(&technician, case, evidence, "model", "lamp.glb", &glb)
            .await;
        assert_eq!(
            uploaded.status,
            StatusCode::NO_CONTENT,
            "{}",
            uploaded.text()
        );
        Court {
            technician,
            judge,
            plaintiff,
            outsider,
            case,
            evidence,
            model: codec::manifest::sha256_hex(&glb),
        }
    }

    /// How many custody events the log holds.
    pub async fn events(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&self.state.db.pool)
            .await
            .unwrap()
    }
}

/// The bundled sample model (with an exhibit manifest).
pub fn sample_glb() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/format-v1/frag_115_1mm.glb"
    ))
    .unwrap()
}
