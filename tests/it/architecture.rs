//! Architecture invariants checked mechanically: the direction of dependencies, and file conventions.

use std::process::Command;

use crate::support::root;

/// Every package in the normal (non-dev) dependency tree of a workspace crate.
fn dependency_names(package: &str) -> Vec<String> {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "-p",
            package,
        ])
        .current_dir(root())
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn dependencies_flow_one_way() {
    let rules: [(&str, &[&str]); 4] = [
        (
            "codec",
            &[
                "tokio", "wgpu", "winit", "reqwest", "hyper", "ingest", "store", "viewer",
            ],
        ),
        ("ingest", &["wgpu", "winit", "axum", "store", "viewer"]),
        ("store", &["wgpu", "winit", "viewer", "ingest"]),
        ("viewer", &["store", "axum"]),
    ];
    for (package, denied) in rules {
        let names = dependency_names(package);
        assert!(
            names.iter().any(|n| n == package),
            "cargo tree did not list {package} itself: {names:?}"
        );
        for deny in denied {
            assert!(
                !names.iter().any(|n| n == deny),
                "{package} depends on {deny}, which the architecture forbids"
            );
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_module_comment() {
    let mut missing = Vec::new();
    let mut stack = vec![root()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(
                    name.as_str(),
                    "target" | "node_modules" | ".git" | "data" | ".tools"
                ) {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                if !text.starts_with("//!") {
                    missing.push(path.display().to_string());
                }
            }
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "files without a //! opening comment: {missing:#?}"
    );
}
