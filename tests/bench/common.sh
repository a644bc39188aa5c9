# Shared by the bench scripts: build the release binary, start and stop a
# server with a given environment, read its peak RSS.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN="$ROOT/target/release/artifactd"
RESULTS="$ROOT/tests/bench/results"
BENCH_TOKEN=bench-admin-token-0123456789

build_release() {
  (cd "$ROOT" && cargo build --release --locked -q -p artifactd)
}

# start_artifactd DIR PORT [VAR=VALUE...]: sets ARTIFACTD_PID.
start_artifactd() {
  local dir=$1 port=$2; shift 2
  mkdir -p "$dir"
  env ARTIFACTD_DATA_DIR="$dir" ARTIFACTD_LISTEN="127.0.0.1:$port" ARTIFACTD_ADMIN_TOKEN="$BENCH_TOKEN" \
    ARTIFACTD_LOG=warn "$@" "$BIN" >"$dir/server.log" 2>&1 &
  ARTIFACTD_PID=$!
  local i
  for i in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "artifactd did not start; log:" >&2; cat "$dir/server.log" >&2; return 1
}

peak_rss_mib() { # PID
  awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"
}
