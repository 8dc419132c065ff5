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

/// The store's floors, lowest first: foundations (storage, validation, HTTP plumbing) → the custody log →
/// records (typed rows and their SQL) → services (use cases, each in one transaction with its custody event) →
/// pages (templates and view models) → handlers (extract, authorize, call, respond). A module may import its
/// own floor and those below, never one above; `lib.rs` wires them.
fn store_floor(module: &str) -> usize {
    match module {
        "custody" => 1,
        "records" => 2,
        "services" => 3,
        "pages" => 4,
        "handlers" => 5,
        _ => 0,
    }
}

/// The store's top-level modules a file imports (`crate::X`).
fn crate_imports(source: &str) -> std::collections::BTreeSet<String> {
    source
        .split("crate::")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// Whether `from` reaches `to` through the import graph.
fn reaches(
    graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
    from: &str,
    to: &str,
    seen: &mut std::collections::BTreeSet<String>,
) -> bool {
    from == to
        || graph.get(from).is_some_and(|next| {
            next.iter()
                .any(|n| seen.insert(n.clone()) && reaches(graph, n, to, seen))
        })
}

/// Issue 21: the store's modules import each other in one loop no more; each floor uses only those below it.
#[test]
fn regression_21_the_store_is_built_in_floors_that_never_import_upward() {
    let src = root().join("store/src");
    let mut upward = Vec::new();
    let mut graph: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        std::collections::BTreeMap::new();
    for file in rust_files(&src) {
        let relative = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if relative == "lib.rs" {
            continue;
        }
        let module = relative
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_owned();
        let source = std::fs::read_to_string(&file).unwrap();
        for import in crate_imports(&source) {
            if store_floor(&import) > store_floor(&module) {
                upward.push(format!("{relative} imports crate::{import}"));
            }
            if import != module {
                graph.entry(module.clone()).or_default().insert(import);
            }
        }
    }
    assert!(upward.is_empty(), "imports from a floor above: {upward:#?}");
    // And no loops among the top-level modules of a floor either.
    for (module, imports) in &graph {
        for import in imports {
            assert!(
                !reaches(
                    &graph,
                    import,
                    module,
                    &mut std::collections::BTreeSet::new()
                ),
                "an import loop: {module} → {import} → … → {module}"
            );
        }
    }
    // SQL lives in the records (and the custody log's own tables), never in handlers or pages.
    for folder in ["handlers", "pages"] {
        for file in rust_files(&src.join(folder)) {
            let source = std::fs::read_to_string(&file).unwrap();
            assert!(
                !source.contains("sqlx::query"),
                "{} runs SQL itself: put it in store/src/records/",
                file.display()
            );
        }
    }
    // The floors are folders one can see.
    for folder in ["custody", "records", "services", "pages", "handlers"] {
        assert!(
            src.join(folder).join("mod.rs").is_file(),
            "store/src/{folder}/"
        );
    }
}
