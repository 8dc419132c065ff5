//! `exhibit verify`: check a model file against its manifest, or a whole store's blobs (the scrub).

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::json;

use crate::client::Store;
use crate::output;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["file", "store", "model_sha256"])))]
pub struct Args {
    /// A model (.glb): its geometry must still hash to what its manifest recorded.
    file: Option<PathBuf>,
    /// A store's data folder: hash every recorded blob again and name the damaged ones.
    #[arg(long)]
    store: Option<PathBuf>,
    /// With --store: the store's PostgreSQL URL, when it is not the folder's SQLite file.
    #[arg(long, requires = "store")]
    database: Option<String>,
    /// With --store: the store's S3 URL, when its blobs are not in the folder.
    #[arg(long, requires = "store")]
    blobs: Option<String>,
    /// With a transfer bundle: the sending court's public key (hex, from its /api/log/checkpoint). A bundle
    /// carries its own key, which proves nothing, so without this it is not accepted.
    #[arg(long)]
    public_key: Option<String>,
    /// With --store: the custody log's signing key, when it is not DIR/signing.key.
    #[arg(long, requires = "store")]
    signing_key: Option<PathBuf>,
    /// With --store: a receipt (a JSON checkpoint, or an upload receipt holding one) the log must still
    /// extend; repeat for several. A shorter log than a receipt shows means the log was rolled back.
    #[arg(long, requires = "store")]
    receipt: Vec<PathBuf>,
    /// With a model: its raw scans (and pose files), in any order and under any names. Ingest runs again
    /// with the options its manifest recorded, and the result must be byte-identical to the model.
    #[arg(long, num_args = 1.., requires = "file", value_name = "RAW")]
    rederive: Vec<PathBuf>,
    /// With a model: fetch its raw scans from this court store (by the hashes its manifest records) and
    /// re-derive it from them, as --rederive does with files at hand.
    #[arg(long, conflicts_with_all = ["rederive", "store"], value_name = "URL")]
    rederive_from: Option<String>,
    /// With --rederive-from, instead of a model file: the model version (its SHA-256) to fetch from that store
    /// first, so an appellate court needs nothing but the hash and a token.
    #[arg(long, requires = "rederive_from", value_name = "SHA256")]
    model_sha256: Option<String>,
    /// Bearer token for --rederive-from (or the environment variable `EXHIBIT_TOKEN`).
    #[arg(long, env = "EXHIBIT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print one JSON object on stdout instead of sentences.
    #[arg(long)]
    json: bool,
}

/// With `--rederive-from`: the store to fetch from, and one folder for what comes from it (the model named by
/// its hash, the raw scans), kept until the check is done.
fn fetch_from(args: &Args) -> anyhow::Result<Option<(Store, tempfile::TempDir)>> {
    let Some(url) = &args.rederive_from else {
        return Ok(None);
    };
    let token = args
        .token
        .as_deref()
        .context("--rederive-from needs --token (or EXHIBIT_TOKEN)")?;
    Ok(Some((
        Store::new(url, token)?,
        tempfile::tempdir().context("cannot make a folder for what the store sends")?,
    )))
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let fetch = fetch_from(args)?;
    let mut refused_model = None;
    let file: Option<PathBuf> = match (&args.model_sha256, &fetch) {
        (Some(sha), Some((store, folder))) => {
            let path = folder
                .path()
                .join(format!("{}.glb", sha.to_ascii_lowercase()));
            match store.download_blob(sha, &path)? {
                Ok(()) => Some(path),
                Err(why) => {
                    refused_model = Some(format!("model version {sha}: {why}"));
                    None
                }
            }
        }
        _ => args.file.clone(),
    };
    let result = if let Some(why) = refused_model {
        json!({ "ok": false, "checked": 0, "problems": [why] })
    } else if let Some(data) = &args.store {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let mut receipts = Vec::new();
        for path in &args.receipt {
            let value: serde_json::Value = serde_json::from_slice(&fs_err::read(path)?)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            // An upload receipt carries its checkpoint inside; a bare checkpoint is one.
            let checkpoint = ["/result/checkpoint", "/checkpoint", ""]
                .iter()
                .find_map(|p| {
                    value
                        .pointer(p)
                        .filter(|v| v.get("root").is_some())
                        .cloned()
                })
                .with_context(|| format!("{}: no checkpoint in it", path.display()))?;
            receipts.push(
                serde_json::from_value(checkpoint)
                    .with_context(|| format!("{}: not a checkpoint", path.display()))?,
            );
        }
        let report = runtime.block_on(store::services::scrub::scrub_offline(
            data,
            args.database.as_deref(),
            args.blobs.as_deref(),
            args.signing_key.as_deref(),
            &receipts,
        ))?;
        serde_json::to_value(&report)?
    } else if let Some(file) = &file {
        let bytes = fs_err::read(file)?;
        if bytes.starts_with(store::services::bundle::MAGIC) {
            match store::services::bundle::verify(&bytes, args.public_key.as_deref()) {
                Ok(v) => {
                    json!({ "ok": true, "checked": v.checked, "problems": [], "checkpoint": v.header.checkpoint,
                            "case": v.header.case.number, "signed_by": v.header.public_key })
                }
                Err(problems) => json!({ "ok": false, "checked": 0, "problems": problems }),
            }
        } else {
            // Read and decoded once, for both checks (a model may be hundreds of megabytes).
            let base = file
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default();
            let model = codec::read_model_bytes(&bytes, Some(&base))
                .map_err(|e| e.with_path(file))
                .with_context(|| format!("cannot read {}", file.display()))?;
            let mut result = verify_file(file, &bytes, &model)?;
            let (raws, fetch_problems) = match &fetch {
                Some((store, folder)) => fetch_inputs(store, &model, folder.path())?,
                None => (args.rederive.clone(), Vec::new()),
            };
            if !fetch_problems.is_empty() {
                result["ok"] = json!(false);
                if let Some(list) = result["problems"].as_array_mut() {
                    list.extend(fetch_problems.into_iter().map(serde_json::Value::from));
                }
            } else if !raws.is_empty() || fetch.is_some() {
                let (problems, details) = rederive(file, &bytes, &model, &raws)?;
                let ok = result["ok"] == json!(true) && problems.is_empty();
                if let Some(list) = result["problems"].as_array_mut() {
                    list.extend(problems.into_iter().map(serde_json::Value::from));
                }
                result["ok"] = json!(ok);
                result["rederive"] = details;
            }
            result
        }
    } else {
        unreachable!("clap requires FILE or --store")
    };
    let ok = result["ok"] == json!(true);
    if args.json {
        output::print_json(&result)?;
    } else {
        let mut lines = vec![format!(
            "{}: {} checked, {}",
            args.model_sha256.as_ref().map_or_else(
                || {
                    args.store
                        .as_ref()
                        .or(file.as_ref())
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                },
                |sha| format!("model version {sha}"),
            ),
            result["checked"],
            if ok { "all intact" } else { "PROBLEMS FOUND" }
        )];
        for problem in result["problems"].as_array().into_iter().flatten() {
            lines.push(format!(
                "  problem: {}",
                problem.as_str().unwrap_or_default()
            ));
        }
        for name in result["unreferenced"].as_array().into_iter().flatten() {
            lines.push(format!(
                "  unreferenced (never served): {}",
                name.as_str().unwrap_or_default()
            ));
        }
        if let Some(details) = result.get("rederive") {
            lines.push(format!(
                "  re-derived from {} input(s) in {:.1} s: sha256 {} ({})",
                details["inputs"],
                details["seconds"].as_f64().unwrap_or_default(),
                details["rederived_sha256"].as_str().unwrap_or("-"),
                if details["identical"] == json!(true) {
                    "byte-identical to the model"
                } else {
                    "NOT the model"
                }
            ));
        }
        output::print_lines(&lines)?;
    }
    if ok {
        Ok(())
    } else {
        anyhow::bail!("verification failed: {}", result["problems"])
    }
}

fn verify_file(
    path: &std::path::Path,
    bytes: &[u8],
    model: &codec::Model,
) -> anyhow::Result<serde_json::Value> {
    let mut problems = Vec::new();
    match (&model.manifest, model.bin_sha256_matches) {
        (None, _) => problems.push(format!("{}: carries no exhibit manifest", path.display())),
        (Some(_), Some(false)) => problems.push(format!(
            "{}: the geometry no longer hashes to the manifest's bin_sha256",
            path.display()
        )),
        _ => {}
    }
    let sidecar = crate::output::manifest_path(path);
    if sidecar.is_file() {
        let sha = codec::manifest::sha256_hex(bytes);
        let recorded: serde_json::Value = serde_json::from_slice(&fs_err::read(&sidecar)?)
            .with_context(|| format!("{} is not JSON", sidecar.display()))?;
        if let Some(expected) = recorded.pointer("/output/sha256").and_then(|v| v.as_str())
            && expected != sha
        {
            problems.push(format!(
                "{}: the file hashes to {sha}, its manifest {} says {expected}",
                path.display(),
                sidecar.display()
            ));
        }
    }
    Ok(json!({ "ok": problems.is_empty(), "checked": 1, "problems": problems }))
}

/// Make the model again from its raw inputs with the recipe in its manifest and compare the bytes. Returns
/// the problems (none when the model is re-derived byte for byte) and what was done.
fn rederive(
    model_path: &std::path::Path,
    model_bytes: &[u8],
    model: &codec::Model,
    raws: &[PathBuf],
) -> anyhow::Result<(Vec<String>, serde_json::Value)> {
    let started = std::time::Instant::now();
    let model_sha = codec::manifest::sha256_hex(model_bytes);
    let mut details = json!({
        "inputs": raws.len(),
        "model_sha256": model_sha,
        "rederived_sha256": null,
        "identical": false,
        "software_recorded": null,
        "software_running": codec::manifest::SOFTWARE,
        "seconds": 0.0,
    });
    let name = model_path.display();
    let Some(manifest) = &model.manifest else {
        return Ok((
            vec![format!(
                "{name}: carries no exhibit manifest, so there is nothing to re-derive it by"
            )],
            details,
        ));
    };
    details["software_recorded"] = json!(manifest.software);
    let Some(recipe) = &manifest.recipe else {
        return Ok((
            vec![format!(
                "{name}: its manifest records no recipe (the model was not made by `exhibit ingest`, or by a \
                 version before recipes were recorded), so it cannot be made again"
            )],
            details,
        ));
    };
    let config = ingest::Recipe::from_json(recipe)
        .and_then(|r| r.to_config())
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;

    // Each raw file is known by its content; its name on this machine does not matter.
    let mut given: Vec<(PathBuf, String)> = Vec::new();
    for raw in raws {
        given.push((raw.clone(), ingest::upload::hash_file(raw)?.0));
    }
    let mut problems = Vec::new();
    let mut placed = Vec::new();
    let folder = tempfile::tempdir().context("cannot make a folder to re-derive in")?;
    for input in &manifest.inputs {
        let Some((path, _)) = given.iter().find(|(_, sha)| *sha == input.sha256) else {
            problems.push(format!(
                "input {} (sha256 {}, {} bytes) was not given: no file given hashes to it",
                input.name, input.sha256, input.bytes
            ));
            continue;
        };
        // Ingest records each input by its file name (a pose file finds its views by theirs, an OBJ its material
        // files and images by the paths it writes, inside its folder), so each goes under the name recorded.
        if input.name.is_empty()
            || input.name.contains('\\')
            || std::path::Path::new(&input.name)
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            anyhow::bail!(
                "{name}: the manifest names an input {:?}, not a path inside the scan's folder",
                input.name
            );
        }
        let at = folder.path().join(&input.name);
        if at.exists() {
            anyhow::bail!("{name}: two inputs are both named {:?}", input.name);
        }
        if let Some(parent) = at.parent() {
            fs_err::create_dir_all(parent)?;
        }
        let absolute = std::path::absolute(path)?;
        if std::fs::hard_link(&absolute, &at).is_err() {
            fs_err::copy(&absolute, &at)?;
        }
        // A material file or texture is read through the scan that names it, never as a scan of its own.
        if input.used_by.is_none() {
            placed.push(at);
        }
    }
    for (path, sha) in &given {
        if !manifest.inputs.iter().any(|i| i.sha256 == *sha) {
            problems.push(format!(
                "{} is not an input of this model (it hashes to {sha}, which the manifest does not list)",
                path.display()
            ));
        }
    }
    if !problems.is_empty() {
        return Ok((problems, details));
    }
    let rederived = ingest::ingest_files(&placed, &config)
        .with_context(|| format!("re-deriving {name} failed"))?;
    let glb = &rederived.model.glb;
    let sha = codec::manifest::sha256_hex(glb);
    details["rederived_sha256"] = json!(sha);
    details["identical"] = json!(glb.as_slice() == model_bytes);
    details["seconds"] = json!(started.elapsed().as_secs_f64());
    if glb.as_slice() != model_bytes {
        let mut problem = format!(
            "{name}: re-derived from its inputs it is not the same file (sha256 {model_sha}, re-derived {sha})"
        );
        let made = serde_json::to_value(&rederived.model.manifest)?;
        let recorded = serde_json::to_value(manifest)?;
        let differ = differences(&recorded, &made, "", 6);
        if differ.is_empty() {
            problem += "; the manifests agree, the geometry differs";
        } else {
            let _ = write!(problem, "; the manifests differ at {}", differ.join(", "));
        }
        if manifest.software != codec::manifest::SOFTWARE {
            let _ = write!(
                problem,
                "; it was made by {}, this is {}: the same bytes are promised only by the same version",
                manifest.software,
                codec::manifest::SOFTWARE
            );
        }
        problems.push(problem);
    }
    Ok((problems, details))
}

/// Download every input the model's manifest records from `store` into `folder`. Returns the files, and a
/// problem for each input the store would not give or gave wrong.
fn fetch_inputs(
    store: &Store,
    model: &codec::Model,
    folder: &std::path::Path,
) -> anyhow::Result<(Vec<PathBuf>, Vec<String>)> {
    // Without a manifest, the re-derivation says why the model cannot be made again.
    let inputs = model.manifest.as_ref().map_or(&[][..], |m| &m.inputs);
    let (mut files, mut problems) = (Vec::new(), Vec::new());
    for (i, input) in inputs.iter().enumerate() {
        // Named by position, not by the recorded name: the names are checked where the inputs are placed.
        let path = folder.join(format!("input-{i}"));
        match store.download_blob(&input.sha256, &path)? {
            Ok(()) => files.push(path),
            Err(why) => problems.push(format!(
                "input {} (sha256 {}): {why}",
                input.name, input.sha256
            )),
        }
    }
    Ok((files, problems))
}

/// SHA-256 of a file read in pieces, so a scan of several gigabytes is not held twice.
/// JSON pointers of the places two values differ (at most `limit`), depth first.
fn differences(
    a: &serde_json::Value,
    b: &serde_json::Value,
    at: &str,
    limit: usize,
) -> Vec<String> {
    use serde_json::Value;
    let mut found = Vec::new();
    let visit = |here: String, x: Option<&Value>, y: Option<&Value>, found: &mut Vec<String>| {
        if found.len() < limit {
            match (x, y) {
                (Some(x), Some(y)) => {
                    let left = limit - found.len();
                    found.extend(differences(x, y, &here, left));
                }
                _ => found.push(here),
            }
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                visit(format!("{at}/{key}"), x.get(key), y.get(key), &mut found);
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                visit(format!("{at}/{i}"), x.get(i), y.get(i), &mut found);
            }
        }
        _ if a != b => found.push(if at.is_empty() { "/".into() } else { at.into() }),
        _ => {}
    }
    found
}
