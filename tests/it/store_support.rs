//! Real parts for the store's tests: `exhibit serve` processes, a throwaway PostgreSQL cluster
//! (initdb/pg_ctl as the postgres user), a Garage S3 server, and a small HTTP client.

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A free TCP port on 127.0.0.1 (bound and released; good enough for a test's own servers).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped.
#[derive(Debug)]
pub struct Guarded(pub Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A PostgreSQL 15 cluster in a temporary folder, stopped when dropped.
#[derive(Debug)]
pub struct Postgres {
    dir: PathBuf,
    pub port: u16,
}

fn pg_bin(name: &str) -> PathBuf {
    for version in ["17", "16", "15"] {
        let p = PathBuf::from(format!("/usr/lib/postgresql/{version}/bin/{name}"));
        if p.exists() {
            return p;
        }
    }
    panic!("PostgreSQL's {name} is not installed (scripts/test installs postgresql)");
}

fn as_postgres(program: &Path) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--"]).arg(program);
    command
}

impl Postgres {
    pub fn start() -> Self {
        let dir =
            std::env::temp_dir().join(format!("exhibit-pg-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("chown")
            .arg("postgres")
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "chown postgres {}", dir.display());
        let out = as_postgres(&pg_bin("initdb"))
            .args(["-k", "-A", "trust", "-U", "postgres", "-D"])
            .arg(dir.join("db"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let out = as_postgres(&pg_bin("pg_ctl"))
            .arg("-D")
            .arg(dir.join("db"))
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=on",
                dir.display()
            ))
            .arg("-l")
            .arg(dir.join("log"))
            .args(["-w", "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir, port }
    }

    /// A new empty database; its URL.
    pub fn database(&self, name: &str) -> String {
        let out = Command::new(pg_bin("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                name,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "createdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_postgres(&pg_bin("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("db"))
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A single-node Garage S3 server with one bucket and one key, stopped when dropped.
#[derive(Debug)]
pub struct Garage {
    _server: Guarded,
    dir: PathBuf,
    pub endpoint: String,
    pub key_id: String,
    pub secret: String,
}

fn garage_bin() -> PathBuf {
    if let Ok(path) = which("garage") {
        return path;
    }
    let cargo_home = std::env::var("CARGO_HOME").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo"),
        PathBuf::from,
    );
    let path = cargo_home.join("bin/garage");
    assert!(
        path.exists(),
        "garage is not installed (scripts/test runs cargo install garage --locked)"
    );
    path
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
        .ok_or(())
}

impl Garage {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "exhibit-garage-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (rpc, s3, admin) = (free_port(), free_port(), free_port());
        let secret_bytes: Vec<u8> = (0..32u32)
            .map(|i| ((i * 37 + u32::from(rpc)) % 256) as u8)
            .collect();
        let secret = codec::manifest::hex(&secret_bytes);
        let config = format!(
            "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\n\
             metadata_fsync = true\ndata_fsync = true\nreplication_factor = 1\n\
             rpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{secret}\"\n\
             [s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{s3}\"\nroot_domain = \".s3.garage.localhost\"\n\
             [admin]\napi_bind_addr = \"127.0.0.1:{admin}\"\nadmin_token = \"exhibit-test\"\n",
            d = dir.display()
        );
        let config_path = dir.join("garage.toml");
        std::fs::write(&config_path, config).unwrap();
        let server = Guarded(
            Command::new(garage_bin())
                .arg("-c")
                .arg(&config_path)
                .arg("server")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join("server.log")).unwrap())
                .spawn()
                .unwrap(),
        );
        let cli = |args: &[&str]| -> String {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let out = Command::new(garage_bin())
                    .arg("-c")
                    .arg(&config_path)
                    .args(args)
                    .output()
                    .unwrap();
                if out.status.success() {
                    return String::from_utf8_lossy(&out.stdout).into_owned();
                }
                assert!(
                    Instant::now() < deadline,
                    "garage {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        };
        let node = cli(&["node", "id", "-q"]);
        let node = node.trim().split('@').next().unwrap().to_owned();
        cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        cli(&["layout", "apply", "--version", "1"]);
        cli(&["bucket", "create", "exhibit"]);
        let key = cli(&["key", "create", "exhibit-key"]);
        let field = |name: &str| {
            key.lines().find_map(|l| l.strip_prefix(name)).map_or_else(
                || panic!("no {name} in garage key create's output:\n{key}"),
                |v| v.trim().to_owned(),
            )
        };
        let key_id = field("Key ID:");
        let secret_key = field("Secret key:");
        cli(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            "exhibit",
            "--key",
            "exhibit-key",
        ]);
        Self {
            _server: server,
            dir,
            endpoint: format!("http://127.0.0.1:{s3}"),
            key_id,
            secret: secret_key,
        }
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where a store keeps its state: the embedded default, or PostgreSQL + Garage shared by instances.
#[derive(Debug)]
pub enum Backend {
    Embedded,
    Shared {
        /// Held so that the cluster lives as long as the backend.
        _postgres: Postgres,
        garage: Garage,
        database: String,
    },
}

impl Backend {
    pub fn shared() -> Self {
        let postgres = Postgres::start();
        let database = postgres.database("exhibit");
        Self::Shared {
            garage: Garage::start(),
            _postgres: postgres,
            database,
        }
    }
}

/// One `exhibit serve` process.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    pub url: String,
    pub port: u16,
    pub data: PathBuf,
    extra: Vec<String>,
    env: Vec<(String, String)>,
    backend_args: Vec<String>,
}

impl Server {
    /// Start an instance on `data` (its own folder: token, scratch; the blobs too when embedded).
    pub fn start(backend: &Backend, data: &Path, extra: &[&str]) -> Self {
        let (backend_args, env) = match backend {
            Backend::Embedded => (Vec::new(), Vec::new()),
            Backend::Shared {
                garage, database, ..
            } => (
                vec![
                    "--database".to_owned(),
                    database.clone(),
                    "--blobs".to_owned(),
                    format!("s3://exhibit?endpoint={}&region=garage", garage.endpoint),
                    // Instances sharing a log share its signing key and name.
                    "--signing-key".to_owned(),
                    data.parent()
                        .unwrap()
                        .join("signing.key")
                        .display()
                        .to_string(),
                    "--origin".to_owned(),
                    "exhibit-test-court".to_owned(),
                ],
                vec![
                    ("AWS_ACCESS_KEY_ID".to_owned(), garage.key_id.clone()),
                    ("AWS_SECRET_ACCESS_KEY".to_owned(), garage.secret.clone()),
                ],
            ),
        };
        let mut server = Self {
            child: None,
            url: String::new(),
            port: free_port(),
            data: data.to_path_buf(),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            env,
            backend_args,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        // Previews (the share page's rendered picture) need a graphics device: off unless a test asks with the
        // helper's own `--previews`.
        let previews = self.extra.iter().any(|a| a == "--previews");
        let mut command = Command::new(env!("CARGO_BIN_EXE_exhibit"));
        command
            // A 1 MiB reserve for the custody log keeps the tests' folders small.
            .args(["serve", "--json", "--reserve-mb", "1", "--data"])
            .arg(&self.data)
            .args(["--bind", &format!("127.0.0.1:{}", self.port)])
            .args((!previews).then_some("--no-previews"))
            .args(&self.backend_args)
            .args(self.extra.iter().filter(|a| *a != "--previews"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        // Keep the server's log for failures; never block it on a full pipe.
        std::fs::create_dir_all(&self.data).unwrap();
        let log = self.data.join("serve.log");
        std::thread::spawn(move || {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap();
            let _ = std::io::copy(&mut BufReader::new(stderr), &mut file);
        });
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let started: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!(
                "exhibit serve did not start ({e}): {line}\n{}",
                std::fs::read_to_string(self.data.join("serve.log")).unwrap_or_default()
            )
        });
        started["url"].as_str().unwrap().clone_into(&mut self.url);
        self.child = Some(child);
    }

    /// SIGKILL: no chance to flush or clean anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start again on the same port and data.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// The admin token the first start wrote.
    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.data.join("admin.token"))
            .unwrap()
            .trim()
            .to_owned()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("serve.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A caller of the API with one token.
#[derive(Debug, Clone)]
pub struct Api {
    pub base: String,
    pub token: String,
    client: reqwest::blocking::Client,
}

/// An answer: status, headers, body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&self.body) }))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Api {
    pub fn new(base: &str, token: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            // A kept-alive connection idle for longer than the server's idle timeout (1 s in some tests) may be
            // closed by the server just as the next request goes out on it; on a loaded machine that gap happens.
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_mins(1))
                .pool_idle_timeout(Duration::from_millis(500))
                .build()
                .unwrap(),
        }
    }
    pub fn with_token(&self, token: &str) -> Self {
        Self::new(&self.base, token)
    }
    pub fn at(&self, base: &str) -> Self {
        Self::new(base, &self.token)
    }
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Answer {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut request = self
            .client
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
            .body(body);
        if !self.token.is_empty() {
            request = request.bearer_auth(&self.token);
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request
            .send()
            .unwrap_or_else(|e| panic!("{method} {path}: {e:?}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().map(|b| b.to_vec()).unwrap_or_default();
        Answer {
            status,
            headers,
            body,
        }
    }
    pub fn get(&self, path: &str) -> Answer {
        self.send("GET", path, &[], Vec::new())
    }
    pub fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(
            "POST",
            path,
            &[("content-type", "application/json")],
            body.to_string().into_bytes(),
        )
    }
    /// POST and require a 2xx; the JSON answer.
    pub fn create(&self, path: &str, body: &Value) -> Value {
        let answer = self.post(path, body);
        assert!(
            (200..300).contains(&answer.status),
            "POST {path} {body}: {} {}",
            answer.status,
            answer.text()
        );
        answer.json()
    }
}

/// The password every user of [`Court::set_up`] signs in to the browser with.
pub const COURT_PASSWORD: &str = "correct horse battery staple";

/// A court's worth of people and one case of theirs plus another case they are not in.
#[derive(Debug)]
pub struct Court {
    pub admin: Api,
    pub technician: Api,
    pub judge: Api,
    pub plaintiff: Api,
    pub defendant: Api,
    pub appellate: Api,
    /// A judge and a party of the other case only.
    pub outside_judge: Api,
    pub outside_party: Api,
    pub case: i64,
    pub evidence: i64,
    pub other_case: i64,
    pub other_evidence: i64,
}

impl Court {
    pub fn set_up(server: &Server) -> Self {
        let admin = Api::new(&server.url, &server.admin_token());
        let user = |name: &str, role: &str| -> (i64, Api) {
            let created = admin.create(
                "/api/users",
                &json!({ "name": name, "role": role, "password": COURT_PASSWORD }),
            );
            (
                created["id"].as_i64().unwrap(),
                admin.with_token(created["token"].as_str().unwrap()),
            )
        };
        let (_, technician) = user("技术员 Li", "technician");
        let (judge_id, judge) = user("审判员 Wang", "judge");
        let (plaintiff_id, plaintiff) = user("原告代理人 Zhao", "party");
        let (defendant_id, defendant) = user("被告代理人 Sun", "party");
        let (_, appellate) = user("省高院 appellate", "appellate");
        let (outside_judge_id, outside_judge) = user("审判员 Other", "judge");
        let (outside_party_id, outside_party) = user("Other party", "party");
        let case = admin.create(
            "/api/cases",
            &json!({ "number": "(2022)鲁01民初123号", "court": "济南市中级人民法院", "title": "路灯外观设计专利权纠纷",
                     "parties": [{ "name": "甲照明公司", "side": "plaintiff" }, { "name": "乙灯具厂", "side": "defendant" }] }),
        )["id"]
            .as_i64()
            .unwrap();
        let other_case = admin.create(
            "/api/cases",
            &json!({ "number": "(2023)鲁01民初456号", "court": "济南市中级人民法院", "title": "another case" }),
        )["id"]
            .as_i64()
            .unwrap();
        for (c, user, role, side) in [
            (case, judge_id, "judge", None),
            (case, plaintiff_id, "party", Some("plaintiff")),
            (case, defendant_id, "party", Some("defendant")),
            (other_case, outside_judge_id, "judge", None),
            (other_case, outside_party_id, "party", Some("plaintiff")),
        ] {
            admin.create(
                &format!("/api/cases/{c}/members"),
                &json!({ "user": user, "role": role, "side": side }),
            );
        }
        let evidence = technician.create(
            &format!("/api/cases/{case}/evidence"),
            &json!({ "label": "原告专利 路灯", "kind": "patented_design", "submitted_by": "甲照明公司",
                     "capture": { "scanner": "handheld", "operator": "技术员 Li" } }),
        )["id"]
            .as_i64()
            .unwrap();
        let other_evidence = admin.create(
            &format!("/api/cases/{other_case}/evidence"),
            &json!({ "label": "其他", "kind": "other", "submitted_by": "x" }),
        )["id"]
            .as_i64()
            .unwrap();
        Self {
            admin,
            technician,
            judge,
            plaintiff,
            defendant,
            appellate,
            outside_judge,
            outside_party,
            case,
            evidence,
            other_case,
            other_evidence,
        }
    }
}

/// Upload with the library client (what `exhibit upload` runs).
#[allow(
    clippy::too_many_arguments,
    reason = "a test helper: every argument is the request's own"
)]
pub fn upload(
    api: &Api,
    file: &Path,
    case: i64,
    evidence: i64,
    kind: &str,
    chunk_bytes: u64,
    state_dir: &Path,
    retry_for: Duration,
) -> Result<ingest::upload::UploadReceipt, ingest::upload::UploadError> {
    let request = ingest::upload::UploadRequest {
        file: file.to_path_buf(),
        store: api.base.clone(),
        token: api.token.clone(),
        case,
        evidence,
        kind: kind.to_owned(),
        chunk_bytes,
        retry_for,
        state_dir: Some(state_dir.to_path_buf()),
    };
    ingest::upload::upload(&request, &mut |_, _| {})
}

/// Deterministic pseudo-random numbers (xorshift64*), so that a failing round can be replayed.
#[derive(Debug, Clone)]
pub struct Seeded(u64);

impl Seeded {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() >> 24) as u8).collect()
    }
}

/// GLB models made by `exhibit ingest` (with manifests): a 603 KB range scan and a small bunny.
pub fn sample_glb() -> PathBuf {
    super::support::data("format-v1/frag_115_1mm.glb")
}
pub fn second_glb() -> PathBuf {
    super::support::data("format-v1/bun_zipper_res4.glb")
}
