#!/usr/bin/env bash
# The store under load on loopback, side by side with nginx serving the same file in the same run.
#
#   benches/scripts/store_load.sh [SECONDS] [CLIENTS]
#
# SERVE_FLAGS=--cached-verification measures the store without hashing every download.
# Needs: a release build (cargo build --release; or EXHIBIT=path/to/exhibit), nginx and wrk (Debian packages nginx, wrk).
# Prints one JSON line per measurement:
#   - downloads: CLIENTS concurrent connections fetching one 8 MB blob over and over, exhibit
#     (`GET /api/blobs/SHA`, authenticated, hash-checked while streaming) vs nginx (`sendfile`, static file);
#   - metadata latency: p50/p99 of `GET /api/cases/1` from 4 more connections while the downloads run;
#   - uploads: 20 concurrent `exhibit upload` processes of distinct 16 MB files (tus, 8 MiB pieces,
#     fsync before every acknowledgement), total MB/s.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH="${1:-10}"
CLIENTS="${2:-50}"
EXHIBIT="${EXHIBIT:-$PWD/target/release/exhibit}"
[ -x "$EXHIBIT" ] || { echo "build first: cargo build --release" >&2; exit 2; }
command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "needs nginx and wrk (apt-get install nginx wrk)" >&2; exit 2; }

WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null; nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -s stop 2>/dev/null; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/nginx/www" "$WORK/nginx/logs"
# nginx workers run as an unprivileged user: let them read the file.
chmod 755 "$WORK" "$WORK/nginx" "$WORK/nginx/www"
head -c 8000000 /dev/urandom > "$WORK/nginx/www/blob.bin"
chmod 644 "$WORK/nginx/www/blob.bin"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
EXHIBIT_PORT=$(port)
NGINX_PORT=$(port)

# nginx as a web server would be set up for static files: sendfile, keep-alive, access log off.
cat > "$WORK/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  server { listen 127.0.0.1:$NGINX_PORT; root $WORK/nginx/www; }
}
EOF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf"

"$EXHIBIT" serve --data "$WORK/data" --bind "127.0.0.1:$EXHIBIT_PORT" --no-previews --json ${SERVE_FLAGS:-} > "$WORK/serve.json" 2> "$WORK/serve.log" &
for _ in $(seq 50); do [ -s "$WORK/serve.json" ] && break; sleep 0.1; done
URL="http://127.0.0.1:$EXHIBIT_PORT"
export EXHIBIT_TOKEN="$(cat "$WORK/data/admin.token")"
api() { curl -sf -H "Authorization: Bearer $EXHIBIT_TOKEN" -H 'Content-Type: application/json' "$@"; }
api -X POST "$URL/api/cases" -d '{"number":"load-1","court":"bench","title":"load"}' > /dev/null
api -X POST "$URL/api/cases/1/evidence" -d '{"label":"blob","kind":"other","submitted_by":"bench"}' > /dev/null
"$EXHIBIT" upload "$WORK/nginx/www/blob.bin" --store "$URL" --case 1 --evidence 1 --kind scan --json > "$WORK/up.json"
SHA=$(sha256sum "$WORK/nginx/www/blob.bin" | cut -c1-64)

# wrk's summary as JSON: requests/s, bytes/s, latency percentiles (ms).
cat > "$WORK/report.lua" <<'EOF'
done = function(summary, latency, requests)
  io.write(string.format('{"requests":%d,"seconds":%.3f,"bytes":%d,"errors":%d,"p50_ms":%.3f,"p99_ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, summary.bytes,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
EOF
load() { wrk -t2 -c"$1" -d"${SECONDS_EACH}s" --timeout 30s -s "$WORK/report.lua" "${@:2}" | tail -1; }

NGINX=$(load "$CLIENTS" "http://127.0.0.1:$NGINX_PORT/blob.bin")
# Metadata requests measured while the downloads run.
load 4 -H "Authorization: Bearer $EXHIBIT_TOKEN" "$URL/api/cases/1" > "$WORK/meta.json" &
META_PID=$!
EXH=$(load "$CLIENTS" -H "Authorization: Bearer $EXHIBIT_TOKEN" "$URL/api/blobs/$SHA")
wait $META_PID
META=$(cat "$WORK/meta.json")
python3 - "$NGINX" "$EXH" "$META" "$CLIENTS" <<'EOF'
import json, sys
nginx, exh, meta, clients = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])
mbps = lambda r: r["bytes"] / r["seconds"] / 1e6
print(json.dumps({"measure": "downloads", "serve_flags": __import__("os").environ.get("SERVE_FLAGS", ""), "clients": clients, "blob_bytes": 8000000,
                  "nginx_MBps": round(mbps(nginx), 1), "exhibit_MBps": round(mbps(exh), 1),
                  "ratio": round(mbps(exh) / mbps(nginx), 3),
                  "nginx_errors": nginx["errors"], "exhibit_errors": exh["errors"],
                  "exhibit_p99_ms": exh["p99_ms"], "nginx_p99_ms": nginx["p99_ms"]}))
print(json.dumps({"measure": "metadata latency under download load", "endpoint": "GET /api/cases/1",
                  "requests": meta["requests"], "p50_ms": meta["p50_ms"], "p99_ms": meta["p99_ms"], "errors": meta["errors"]}))
EOF

# Uploads: 20 processes at once, distinct files.
mkdir -p "$WORK/up"
for i in $(seq 20); do head -c 16000000 /dev/urandom > "$WORK/up/f$i.bin"; done
START=$(date +%s.%N)
pids=()
for i in $(seq 20); do
  "$EXHIBIT" upload "$WORK/up/f$i.bin" --store "$URL" --case 1 --evidence 1 --kind scan --json > "$WORK/up/f$i.json" &
  pids+=($!)
done
wait "${pids[@]}"
END=$(date +%s.%N)
python3 - "$START" "$END" "$WORK/up" <<'EOF'
import json, sys, glob
start, end, folder = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
receipts = [json.load(open(f)) for f in glob.glob(folder + "/f*.json")]
total = sum(r["bytes"] for r in receipts)
print(json.dumps({"measure": "uploads", "clients": len(receipts), "bytes": total, "seconds": round(end - start, 3),
                  "MBps": round(total / (end - start) / 1e6, 1), "all_hashes_confirmed": len(receipts) == 20}))
EOF
