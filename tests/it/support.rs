//! Helpers shared by the integration tests: paths, running the binary, the glTF validator.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under `tests/data`.
pub fn data(relative: &str) -> PathBuf {
    root().join("tests/data").join(relative)
}

/// The built `exhibit` binary with arguments.
pub fn exhibit(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_exhibit"));
    command.args(args);
    command
}

/// Run and return the output, whatever the exit status.
pub fn run(command: &mut Command) -> Output {
    command.output().expect("the exhibit binary runs")
}

/// Run, require exit 0, and parse the one JSON object it printed.
pub fn run_json(command: &mut Command) -> serde_json::Value {
    let output = run(command);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON object")
}

/// Check GLB files with the Khronos glTF validator (and their decoded copies); fail with its messages.
pub fn assert_valid_gltf(files: &[&Path]) {
    let tools = root().join("tests/js");
    assert!(
        tools.join("node_modules/gltf-validator").exists(),
        "the Khronos glTF validator is not installed in tests/js/node_modules: run scripts/test, which installs it"
    );
    let output = Command::new("node")
        .arg(tools.join("validate.mjs"))
        .args(files)
        .output()
        .expect("node runs (scripts/test installs Node.js when missing)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout.lines() {
        let report: serde_json::Value =
            serde_json::from_str(line).expect("the validator prints JSON lines");
        assert_eq!(report["numErrors"], 0, "validator errors: {report}");
        assert_eq!(
            report["decoded"]["numErrors"], 0,
            "validator errors in the decoded copy: {report}"
        );
        assert_eq!(report["numWarnings"], 0, "validator warnings: {report}");
    }
    assert!(
        output.status.success(),
        "validator failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.lines().count(), files.len(), "one report per file");
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> String {
    codec::manifest::sha256_hex(&std::fs::read(path).expect("file exists"))
}
