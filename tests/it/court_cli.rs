//! Issue 18: court administration from the command line (the clerk's and the technician's work without curl),
//! cases named by court number and evidence by label everywhere, and scan to store in one step with every raw
//! input, so the appellate court can re-derive the model from the store alone.

use serde_json::Value;

use crate::store_support::{Backend, Server};
use crate::support::{data, exhibit, run, run_json};

const NUMBER: &str = "(2026)鲁01知民初1号";

/// `exhibit ARGS --store URL --token T --json`, its JSON.
fn as_user(server: &Server, token: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--store", &server.url, "--token", token, "--json"]);
    run_json(&mut exhibit(&all))
}

/// The same, expected to fail with exit 1; its stderr.
fn refused(server: &Server, token: &str, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--store", &server.url, "--token", token]);
    let output = run(&mut exhibit(&all));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{all:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn regression_18_clerk_and_technician_work_from_the_command_line_by_court_number_and_label() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(&Backend::Embedded, &work.path().join("data"), &[]);
    let admin = server.admin_token();
    let judge = as_user(
        &server,
        &admin,
        &["user", "add", "审判员 Wang", "--role", "judge"],
    );
    let technician = as_user(
        &server,
        &admin,
        &["user", "add", "技术员 Li", "--role", "technician"],
    );
    let plaintiff = as_user(
        &server,
        &admin,
        &["user", "add", "甲公司", "--role", "party"],
    );
    for user in [&judge, &technician, &plaintiff] {
        assert!(
            user["token"].as_str().unwrap().starts_with("exh_"),
            "{user}"
        );
    }
    let listed = as_user(&server, &admin, &["user", "list"]);
    assert!(listed.to_string().contains("审判员 Wang") && !listed.to_string().contains("exh_"));

    let case = as_user(
        &server,
        &admin,
        &[
            "case",
            "open",
            "--number",
            NUMBER,
            "--court",
            "济南市中级人民法院",
            "--title",
            "外观设计专利侵权纠纷",
            "--party",
            "甲公司:plaintiff",
            "--party",
            "乙: Lamps Ltd:defendant",
        ],
    );
    assert_eq!(case["number"], NUMBER);
    assert_eq!(case["parties"][1]["name"], "乙: Lamps Ltd");
    // Members by name, the case by its number.
    as_user(
        &server,
        &admin,
        &[
            "case",
            "add-member",
            NUMBER,
            "审判员 Wang",
            "--role",
            "judge",
        ],
    );
    as_user(
        &server,
        &admin,
        &[
            "case",
            "add-member",
            NUMBER,
            "甲公司",
            "--role",
            "party",
            "--side",
            "plaintiff",
        ],
    );
    let technician_token = technician["token"].as_str().unwrap();
    let item = as_user(
        &server,
        technician_token,
        &[
            "evidence",
            "add",
            NUMBER,
            "--label",
            "被诉侵权产品 lamp",
            "--kind",
            "accused_product",
        ],
    );
    assert_eq!(item["submitted_by"], "技术员 Li", "{item}");

    // Scan to store in one step: the model and its raw scan, found by hash beside the input.
    let scan_dir = work.path().join("scans");
    std::fs::create_dir(&scan_dir).unwrap();
    let scan = scan_dir.join("bun000.ply");
    std::fs::copy(data("stanford_bunny/bun000.ply"), &scan).unwrap();
    let model = work.path().join("lamp.glb");
    let ingested = run_json(&mut exhibit(&[
        "ingest",
        scan.to_str().unwrap(),
        "-o",
        model.to_str().unwrap(),
        "--points",
        "--upload",
        "--store",
        &server.url,
        "--case",
        NUMBER,
        "--evidence",
        "被诉侵权产品 lamp",
        "--token",
        technician_token,
        "--json",
    ]));
    let upload = &ingested["upload"];
    assert_eq!(upload["sha256"], ingested["sha256"], "{upload}");
    assert_eq!(upload["case"], case["id"]);
    assert_eq!(upload["inputs"].as_array().unwrap().len(), 1, "{upload}");
    assert_eq!(upload["inputs"][0]["kind"], "scan");

    // An existing model and a renamed scan: `upload --with-inputs` finds it by its hash.
    let renamed = work.path().join("renamed");
    std::fs::create_dir(&renamed).unwrap();
    std::fs::copy(&scan, renamed.join("scanner-export-0001.ply")).unwrap();
    std::fs::write(renamed.join("notes.txt"), "not an input").unwrap();
    let model_b = work.path().join("lamp-fine.glb");
    run_json(&mut exhibit(&[
        "ingest",
        scan.to_str().unwrap(),
        "-o",
        model_b.to_str().unwrap(),
        "--points",
        "--precision-mm",
        "0.02",
        "--json",
    ]));
    let sent = as_user(
        &server,
        technician_token,
        &[
            "upload",
            model_b.to_str().unwrap(),
            "--case",
            NUMBER,
            "--evidence",
            "被诉侵权产品 lamp",
            "--with-inputs",
            renamed.to_str().unwrap(),
        ],
    );
    assert_eq!(sent["version"], 2, "{sent}");
    assert!(
        sent["inputs"][0]["file"]
            .as_str()
            .unwrap()
            .ends_with("scanner-export-0001.ply"),
        "{sent}"
    );

    // Both versions re-derive from the store alone, for the judge.
    for sha in [&ingested["sha256"], &sent["sha256"]] {
        let verified = run_json(&mut exhibit(&[
            "verify",
            "--model-sha256",
            sha.as_str().unwrap(),
            "--rederive-from",
            &server.url,
            "--token",
            judge["token"].as_str().unwrap(),
            "--json",
        ]));
        assert_eq!(verified["ok"], true, "{verified}");
    }

    // The judge lists and shows the case by its number.
    let judge_token = judge["token"].as_str().unwrap();
    let cases = as_user(&server, judge_token, &["case", "list"]);
    assert_eq!(cases["cases"].as_array().unwrap().len(), 1);
    let shown = as_user(&server, judge_token, &["case", "show", NUMBER]);
    assert_eq!(shown["id"], case["id"]);
    assert_eq!(
        shown["evidence"][0]["versions"].as_array().unwrap().len(),
        2,
        "{shown}"
    );
    let members: Vec<&str> = shown["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(members, ["审判员 Wang", "甲公司"]);

    // Refusals name what was wrong, never a panic.
    let stderr = refused(
        &server,
        judge_token,
        &["case", "show", "(2099)鲁01知民初9号"],
    );
    assert!(stderr.contains("404"), "{stderr}");
    let stderr = refused(
        &server,
        technician_token,
        &[
            "upload",
            model.to_str().unwrap(),
            "--case",
            NUMBER,
            "--evidence",
            "no such item",
        ],
    );
    assert!(
        stderr.contains("被诉侵权产品 lamp") && stderr.contains("no such item"),
        "{stderr}"
    );
    let stderr = refused(
        &server,
        plaintiff["token"].as_str().unwrap(),
        &["user", "add", "x", "--role", "admin"],
    );
    assert!(stderr.contains("403"), "{stderr}");
    let output = run(&mut exhibit(&[
        "ingest",
        scan.to_str().unwrap(),
        "-o",
        model.to_str().unwrap(),
        "--upload",
        "--store",
        &server.url,
    ]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--case") && stderr.contains("--evidence"),
        "{stderr}"
    );
}

/// `exhibit ARGS --store URL --token T --json` with `input` on standard input, its JSON.
fn with_stdin(server: &Server, token: &str, args: &[&str], input: &str) -> Value {
    use std::io::Write as _;
    let mut all = args.to_vec();
    all.extend(["--store", &server.url, "--token", token, "--json"]);
    let mut child = exhibit(&all)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{all:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Issue 22: a party's browser password and their command-line tokens, made, listed and revoked from the
/// command line; a revoked token is refused at once.
#[test]
fn passwords_and_tokens_from_the_command_line() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(&Backend::Embedded, &work.path().join("data"), &[]);
    let admin = server.admin_token();
    let party = with_stdin(
        &server,
        &admin,
        &[
            "user",
            "add",
            "原告代理人 Zhao",
            "--role",
            "party",
            "--password-stdin",
        ],
        "a long enough passphrase\n",
    );
    let party_token = party["token"].as_str().unwrap().to_owned();
    // Signs in to the browser with it.
    let client = reqwest::blocking::Client::new();
    let signed_in = client
        .post(format!("{}/api/session", server.url))
        .header("content-type", "application/json")
        .body(
            serde_json::json!({ "name": "原告代理人 Zhao", "password": "a long enough passphrase" })
                .to_string(),
        )
        .send()
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    // Changes it (the new one, then the current one).
    with_stdin(
        &server,
        &party_token,
        &["user", "password"],
        "another long passphrase\na long enough passphrase\n",
    );
    let made = as_user(
        &server,
        &party_token,
        &["user", "token", "create", "laptop", "--days", "7"],
    );
    let laptop = made["token"].as_str().unwrap().to_owned();
    let listed = as_user(&server, &laptop, &["user", "token", "list"]);
    let names: Vec<&str> = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["first", "laptop"]);
    let id = made["id"].as_str().unwrap();
    as_user(
        &server,
        &admin,
        &["user", "token", "revoke", id, "--user", "原告代理人 Zhao"],
    );
    let stderr = refused(&server, &laptop, &["user", "token", "list"]);
    assert!(
        stderr.contains("revoked") || stderr.contains("401"),
        "{stderr}"
    );
}
