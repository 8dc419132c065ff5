//! Issue 22, part 1: signing in from a browser (argon2id passwords, an `HttpOnly` session cookie, CSRF on every
//! change, failed attempts limited), API tokens that are named, end and are revoked, and members removed, every
//! step a custody event.

use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::app::{Answer, App};

const PASSWORD: &str = "correct horse battery staple";

/// A request with the session cookie (and the CSRF token, when given).
async fn with_cookie(
    app: &App,
    method: Method,
    path: &str,
    cookie: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let cookie = format!("theme=dark; {cookie}");
    let mut headers = vec![("cookie", cookie.as_str())];
    if let Some(csrf) = csrf {
        headers.push(("x-csrf-token", csrf));
    }
    app.call_with(method, path, &headers, body).await
}

async fn sign_in(app: &App, name: &str, password: &str) -> Answer {
    app.post(
        "/api/session",
        "",
        json!({ "name": name, "password": password }),
    )
    .await
}

/// `exhibit_session=…` from an answer's Set-Cookie.
fn session_of(answer: &Answer) -> String {
    let cookie = answer.headers[header::SET_COOKIE].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

async fn events(app: &App, action: &str) -> Vec<(String, String, String)> {
    sqlx::query_as::<_, (String, String, String)>(
        "SELECT actor, outcome, detail FROM events WHERE action = $1 ORDER BY seq",
    )
    .bind(action)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_judge_signs_in_changes_only_with_the_csrf_token_and_signs_out() {
    let app = App::new().await;
    let made = app
        .create(
            "/api/users",
            &app.admin,
            json!({ "name": "审判员 Wang", "role": "judge", "password": PASSWORD }),
        )
        .await;
    let judge = made["id"].as_i64().unwrap();
    // A short password is refused, naming the field.
    let short = app
        .post(
            "/api/users",
            &app.admin,
            json!({ "name": "clerk", "role": "technician", "password": "short" }),
        )
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(short.text().contains("password"), "{}", short.text());

    // Wrong password and unknown name: the same 401, which never says which.
    let wrong = sign_in(&app, "审判员 Wang", "correct horse battery stapler").await;
    let unknown = sign_in(&app, "nobody", PASSWORD).await;
    for answer in [&wrong, &unknown] {
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert!(
            answer.text().contains("wrong name or password"),
            "{}",
            answer.text()
        );
        assert!(!answer.headers.contains_key(header::SET_COOKIE));
    }

    let signed_in = sign_in(&app, "审判员 Wang", PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.text());
    let set_cookie = signed_in.headers[header::SET_COOKIE].to_str().unwrap();
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=28800",
    ] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let session = signed_in.json();
    assert_eq!(session["name"], "审判员 Wang");
    assert_eq!(session["role"], "judge");
    let csrf = session["csrf"].as_str().unwrap().to_owned();
    let cookie = session_of(&signed_in);
    // The store keeps only the session's hash: the cookie's value is nowhere in the database.
    let value = cookie.split_once('=').unwrap().1;
    let stored: Vec<String> = sqlx::query_scalar("SELECT hash FROM sessions")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored.contains(&value.to_owned()));

    // Reading with the cookie alone works; a reloaded page asks for the CSRF token again.
    let who = with_cookie(&app, Method::GET, "/api/whoami", &cookie, None, None).await;
    assert_eq!(who.status, StatusCode::OK);
    assert_eq!(who.json()["name"], "审判员 Wang");
    let again = with_cookie(&app, Method::GET, "/api/session", &cookie, None, None).await;
    assert_eq!(again.json()["csrf"], csrf.as_str());

    // A change with the cookie but without (or with a wrong) CSRF token is refused; with it, done.
    let path = format!("/api/users/{judge}/tokens");
    let body = json!({ "name": "laptop in court 3" });
    let bare = with_cookie(&app, Method::POST, &path, &cookie, None, Some(body.clone())).await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN, "{}", bare.text());
    assert!(bare.text().contains("x-csrf-token"), "{}", bare.text());
    let forged = with_cookie(
        &app,
        Method::POST,
        &path,
        &cookie,
        Some(&"0".repeat(64)),
        Some(body.clone()),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let made = with_cookie(&app, Method::POST, &path, &cookie, Some(&csrf), Some(body)).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    let laptop = made.json();
    assert!(laptop["token"].as_str().unwrap().starts_with("exh_"));

    // Signing out ends the session for good; the cookie is cleared.
    let out = with_cookie(
        &app,
        Method::DELETE,
        "/api/session",
        &cookie,
        Some(&csrf),
        None,
    )
    .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(
        out.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = with_cookie(&app, Method::GET, "/api/whoami", &cookie, None, None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert!(
        after.text().contains("session has ended"),
        "{}",
        after.text()
    );

    // Every step is in the custody log: the failures under the name tried, never the password.
    let sign_ins = events(&app, "sign_in").await;
    assert_eq!(
        sign_ins
            .iter()
            .map(|(actor, outcome, _)| (actor.as_str(), outcome.as_str()))
            .collect::<Vec<_>>(),
        [
            ("审判员 Wang", "denied"),
            ("nobody", "denied"),
            ("审判员 Wang", "ok")
        ]
    );
    assert_eq!(events(&app, "sign_out").await.len(), 1);
    assert_eq!(events(&app, "token_created").await.len(), 1);
    let everything: Vec<String> = sqlx::query_scalar("SELECT detail FROM events")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
    assert!(everything.iter().all(|d| !d.contains("battery")));
}

#[tokio::test]
async fn failed_sign_ins_are_limited_even_for_the_right_password() {
    let app = App::new().await;
    app.create(
        "/api/users",
        &app.admin,
        json!({ "name": "party", "role": "party", "password": PASSWORD }),
    )
    .await;
    for _ in 0..5 {
        assert_eq!(
            sign_in(&app, "party", "a wrong password!").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = sign_in(&app, "PARTY", PASSWORD).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text()
    );
    let wait: u64 = limited.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&wait), "{wait}");
    let outcomes: Vec<String> = events(&app, "sign_in")
        .await
        .into_iter()
        .map(|(_, outcome, _)| outcome)
        .collect();
    assert_eq!(outcomes.last().unwrap(), "denied (rate limited)");
}

#[tokio::test]
async fn tokens_are_named_end_and_are_revoked_and_only_their_owner_or_the_admin_sees_them() {
    let app = App::new().await;
    let court = app.court().await;
    let judge: i64 = sqlx::query_scalar("SELECT id FROM users WHERE name = 'judge'")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let path = format!("/api/users/{judge}/tokens");
    // A token that ends in a second: it works, then it does not.
    let short = app
        .create(
            &path,
            &court.judge,
            json!({ "name": "one second", "expires_in_seconds": 1 }),
        )
        .await;
    let short_token = short["token"].as_str().unwrap();
    assert_eq!(
        app.get("/api/whoami", short_token).await.status,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let expired = app.get("/api/whoami", short_token).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert!(expired.text().contains("expired"), "{}", expired.text());
    // Out-of-range lives are refused.
    let forever = app
        .post(
            &path,
            &court.judge,
            json!({ "name": "x", "expires_in_seconds": 0 }),
        )
        .await;
    assert_eq!(forever.status, StatusCode::BAD_REQUEST);

    let cli = app
        .create(&path, &app.admin, json!({ "name": "the clerk's laptop" }))
        .await;
    let listed = app.get(&path, &court.judge).await.json();
    let names: Vec<&str> = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["first", "one second", "the clerk's laptop"]);
    // The list never carries a token.
    assert!(!listed.to_string().contains("exh_"));
    for token in listed["tokens"].as_array().unwrap() {
        assert!(token["expires_ms"].as_i64().is_some(), "{token}");
    }
    // Nobody else may see or revoke them (a party is refused; the admin is not).
    assert_eq!(
        app.get(&path, &court.plaintiff).await.status,
        StatusCode::FORBIDDEN
    );
    let id = cli["id"].as_str().unwrap();
    let revoke = |token: String| {
        let app = &app;
        let path = format!("{path}/{id}");
        async move { app.call(Method::DELETE, &path, &token, None).await }
    };
    assert_eq!(
        revoke(court.plaintiff.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    let cli_token = cli["token"].as_str().unwrap();
    assert_eq!(
        app.get("/api/whoami", cli_token).await.status,
        StatusCode::OK
    );
    assert_eq!(
        revoke(court.judge.clone()).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/api/whoami", cli_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        revoke(court.judge.clone()).await.status,
        StatusCode::NOT_FOUND
    );
    let bad = app
        .call(
            Method::DELETE,
            &format!("{path}/not-an-id"),
            &court.judge,
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let revoked = events(&app, "token_revoked").await;
    assert_eq!(revoked.len(), 1);
    assert!(revoked[0].2.contains(id));
}

#[tokio::test]
async fn a_password_change_needs_the_old_one_and_ends_every_session() {
    let app = App::new().await;
    let made = app
        .create(
            "/api/users",
            &app.admin,
            json!({ "name": "assessor", "role": "judge", "password": PASSWORD }),
        )
        .await;
    let (user, token) = (
        made["id"].as_i64().unwrap(),
        made["token"].as_str().unwrap().to_owned(),
    );
    let cookie = session_of(&sign_in(&app, "assessor", PASSWORD).await);
    let path = format!("/api/users/{user}/password");
    let put = |token: String, body: Value| {
        let app = &app;
        let path = path.clone();
        async move { app.call(Method::PUT, &path, &token, Some(body)).await }
    };
    let missing = put(
        token.clone(),
        json!({ "password": "a brand new passphrase" }),
    )
    .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    let wrong = put(
        token.clone(),
        json!({ "password": "a brand new passphrase", "current_password": "not the password" }),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let changed = put(
        token.clone(),
        json!({ "password": "a brand new passphrase", "current_password": PASSWORD }),
    )
    .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text());
    let old = with_cookie(&app, Method::GET, "/api/whoami", &cookie, None, None).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        sign_in(&app, "assessor", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&app, "assessor", "a brand new passphrase")
            .await
            .status,
        StatusCode::OK
    );
    // The admin sets anyone's without the old one; nobody else may.
    let other = app.user("other judge", "judge").await.1;
    assert_eq!(
        put(other, json!({ "password": "someone else's pass" }))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        put(
            app.admin.clone(),
            json!({ "password": "reset by the admin" })
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let set = events(&app, "password_set").await;
    assert_eq!(
        set.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(),
        ["denied", "ok", "ok"]
    );
    // The other judge's attempt is refused before anything is read, and logged as such.
    let refused = events(&app, "manage_users").await;
    assert!(refused.iter().any(|e| e.1 == "denied"), "{refused:?}");
}

#[tokio::test]
async fn a_removed_member_no_longer_finds_the_case() {
    let app = App::new().await;
    let court = app.court().await;
    let case = format!("/api/cases/{}", court.case);
    assert_eq!(app.get(&case, &court.judge).await.status, StatusCode::OK);
    let judge: i64 = sqlx::query_scalar("SELECT id FROM users WHERE name = 'judge'")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let path = format!("{case}/members/{judge}");
    // Only the admin manages members.
    assert_eq!(
        app.call(Method::DELETE, &path, &court.judge, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call(Method::DELETE, &path, &app.admin, None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&case, &court.judge).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call(Method::DELETE, &path, &app.admin, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let removed = events(&app, "member_removed").await;
    assert_eq!(removed.len(), 1);
}
