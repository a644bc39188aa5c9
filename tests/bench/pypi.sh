#!/usr/bin/env bash
# PyPI: artifactd beside pypiserver in the same run, on the same generated
# wheels of one project.
#   1. 2,000 sequential uploads into one project (twine's legacy upload form,
#      one keep-alive connection): files/s overall and per window of 200.
#      Target for artifactd: at least 200 files/s, steady as the project grows.
#   2. That project's page (2,000 files), asked for as pip asks (PEP 691 JSON,
#      Accept-Encoding: gzip): median latency with one connection, and
#      requests/s with 32. Target: median <= 2 ms, >= 5,000 requests/s.
#
#   tests/bench/pypi.sh                  -> tests/bench/results/pypi.txt
#   N=500 tests/bench/pypi.sh
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$ROOT/tests/services.sh"
ensure_packages wrk curl
build_release

N=${N:-2000}
DURATION=${DURATION:-10s}
WORK=$(mktemp -d /tmp/artifactd-bench-pypi.XXXXXX)
trap 'kill ${ARTIFACTD_PID:-} ${PYPISERVER_PID:-} 2>/dev/null; rm -rf "$WORK"' EXIT

PYPISERVER_PIN="pypiserver==2.4.2"
VENV="${ARTIFACTD_BENCH_VENV:-$HOME/.cache/artifactd-tests/bench-pypiserver}"
if [ "$(cat "$VENV/.pins" 2>/dev/null)" != "$PYPISERVER_PIN" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$PYPISERVER_PIN"
  echo "$PYPISERVER_PIN" >"$VENV/.pins"
fi

CLIENT="$ROOT/tests/bench/pypi_client.py"
PIP_HEADERS=(-H "Accept: application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01" -H "Accept-Encoding: gzip, deflate")

# median_ms URL: one connection, wrk's 50th percentile in ms.
median_ms() {
  wrk -t1 -c1 -d"$DURATION" --latency "${PIP_HEADERS[@]}" "$1" |
    awk '$1 == "50%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.2f", v }'
}
# rps URL: 32 connections.
rps() {
  wrk -t2 -c32 -d"$DURATION" "${PIP_HEADERS[@]}" "$1" | awk '/^Requests\/sec/ { printf "%.0f", $2 }'
}
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

echo "== artifactd: $N uploads"
port=$(free_port)
start_artifactd "$WORK/a" "$port"
python3 "$CLIENT" "http://127.0.0.1:$port/repo/pypi/bench/" "$BENCH_TOKEN" "$N" "$WORK/a-up.json"
a_page="http://127.0.0.1:$port/repo/pypi/bench/simple/bench-pkg/"
files=$(curl -fsS "${PIP_HEADERS[@]}" --compressed "$a_page" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["files"]))')
[ "$files" = "$N" ] || { echo "artifactd page lists $files files, expected $N" >&2; exit 1; }
bytes_gz=$(curl -fsS "${PIP_HEADERS[@]}" "$a_page" | wc -c)
echo "== artifactd: page ($bytes_gz bytes gzip)"
a_med=$(median_ms "$a_page"); a_rps=$(rps "$a_page")
a_rss=$(peak_rss_mib "$ARTIFACTD_PID")
kill "$ARTIFACTD_PID"; wait "$ARTIFACTD_PID" 2>/dev/null || true

echo "== artifactd: $N uploads with ?wait=0"
port=$(free_port)
start_artifactd "$WORK/a0" "$port"
python3 "$CLIENT" "http://127.0.0.1:$port/repo/pypi/bench/?wait=0" "$BENCH_TOKEN" "$N" "$WORK/a0-up.json"
kill "$ARTIFACTD_PID"; wait "$ARTIFACTD_PID" 2>/dev/null || true

echo "== pypiserver: $N uploads"
port=$(free_port)
mkdir -p "$WORK/p/packages"
"$VENV/bin/pypi-server" run -p "$port" -i 127.0.0.1 -P . -a . "$WORK/p/packages" >"$WORK/p/server.log" 2>&1 &
PYPISERVER_PID=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.1; done
python3 "$CLIENT" "http://127.0.0.1:$port/" none "$N" "$WORK/p-up.json"
p_page="http://127.0.0.1:$port/simple/bench-pkg/"
echo "== pypiserver: page"
p_med=$(median_ms "$p_page"); p_rps=$(rps "$p_page")
kill "$PYPISERVER_PID"; wait "$PYPISERVER_PID" 2>/dev/null || true

out="$RESULTS/pypi.txt"
{
  echo "# PyPI: artifactd (release build, SQLite + local storage, default settings) and pypiserver 2.4.2,"
  echo "# same run, same $N generated wheels of one project ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
  echo "# uploads: sequential, twine's legacy upload form over one keep-alive connection. artifactd by default"
  echo "#   answers once the package is published (read-your-writes), so every upload includes a publish;"
  echo "#   with ?wait=0 it answers once the package is durably committed and publishes in the background"
  echo "# page: the project's page with pip's headers (PEP 691 JSON, Accept-Encoding: gzip; pypiserver"
  echo "#   serves HTML), median latency over 1 connection, requests/s over 32 connections (wrk, $DURATION)"
  printf "%-18s %8s %8s %15s %12s  %s\n" server files/s slowest page_median_ms page_req/s "files/s per 200 uploads"
  printf "%-18s %8s %8s %15s %12s  %s\n" artifactd "$(field "$WORK/a-up.json" rate)" "$(field "$WORK/a-up.json" slowest_window)" \
    "$a_med" "$a_rps" "$(field "$WORK/a-up.json" rate_per_200 | tr -d ' []')"
  printf "%-18s %8s %8s %15s %12s  %s\n" "artifactd ?wait=0" "$(field "$WORK/a0-up.json" rate)" "$(field "$WORK/a0-up.json" slowest_window)" \
    - - "$(field "$WORK/a0-up.json" rate_per_200 | tr -d ' []')"
  printf "%-18s %8s %8s %15s %12s  %s\n" pypiserver "$(field "$WORK/p-up.json" rate)" "$(field "$WORK/p-up.json" slowest_window)" \
    "$p_med" "$p_rps" "$(field "$WORK/p-up.json" rate_per_200 | tr -d ' []')"
  echo "# artifactd page: $bytes_gz bytes gzip-encoded; server peak RSS ${a_rss} MiB"
} >"$out"
cat "$out"
