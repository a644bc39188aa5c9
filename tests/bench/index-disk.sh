#!/usr/bin/env bash
# What superseded index sets cost while they are kept for the grace period:
# N generated .deb files uploaded to one apt dist 100 per /addpkg request
# (each request waits for its publish, so every request leaves one more index
# set behind), then the data directory split into SQLite, blobs/ and index/,
# the index_sets rows, the server's peak RSS and the upload wall time.
# Embedded defaults (SQLite + local storage), release build.
#   pass 1: default grace (grace_period_secs=3600): nothing expires, every set stays.
#   pass 2: ARTIFACTD_PUBLISH_GRACE_PERIOD_SECS=5, ARTIFACTD_PUBLISH_GC_INTERVAL_SECS=1;
#           measured after the uploads, then again after a 10 s pause and one
#           more upload (garbage collection runs after a publish).
# Meant to show the gain of structural sharing between index sets.
#
#   tests/bench/index-disk.sh          -> tests/bench/results/index-disk.txt
#   N=5000 tests/bench/index-disk.sh
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$ROOT/tests/services.sh"
ensure_packages curl sqlite3
build_release
(cd "$ROOT" && cargo build --release --locked -q -p artifactd-tests --bin gen-debs)
GEN="$ROOT/target/release/gen-debs"

N=${N:-20000}
PER_REQUEST=100
WORK=$(mktemp -d /tmp/artifactd-bench-index.XXXXXX)
trap 'kill ${ARTIFACTD_PID:-} 2>/dev/null; rm -rf "$WORK"' EXIT

now_ms() { date +%s%3N; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
# du_b ARGS...: apparent size in bytes; files the collector removes during
# the walk are skipped, not an error.
du_b() { { du -sb "$@" 2>/dev/null || true; } | cut -f1; }
bytes_of() { # PATH...: apparent size in bytes, 0 if absent
  local total=0 p
  for p in "$@"; do [ -e "$p" ] && total=$((total + $(du_b "$p"))); done
  echo "$total"
}
sql() { sqlite3 -readonly "$DB" "$1"; }

echo "== generating $N packages"
"$GEN" "$WORK/debs" "$N"
"$GEN" "$WORK/extra" 1 extra
mapfile -t extras < <(ls "$WORK/extra"/*.deb)
deb_bytes=$(find "$WORK/debs" -name '*.deb' -printf '%s\n' | awk '{ s += $1 } END { print s }')

upload_all() { # BASE: N packages, $PER_REQUEST per request, default wait, one request at a time
  find "$WORK/debs" -name '*.deb' -print0 | sort -zV | xargs -0 -n "$PER_REQUEST" sh -c '
    token=$0; base=$1; shift
    args=""; for f; do args="$args -F f=@$f"; done
    curl -fsS -o /dev/null -H "Authorization: Bearer $token" $args "$base/addpkg?provider=apt&reponame=bench&dist=bookworm"
  ' "$BENCH_TOKEN" "$1"
  # A request that outwaited wait_timeout_secs answered 202: wait for the rest.
  until curl -fsS "$1/api/v1/repos/apt/bench" | python3 -c 'import json,sys; r=json.load(sys.stdin); sys.exit(r["published_seq"] != r["change_seq"])'; do sleep 0.5; done
}

out="$RESULTS/index-disk.txt"
row_fmt="%-22s %6s %9s %9s %10s %10s %10s %10s %8s %6s %10s %9s %8s %5s\n"
{
  echo "# Disk and memory held by superseded index sets kept for the grace period ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
  echo "# artifactd release build, embedded defaults (SQLite + local storage); N generated .deb files"
  echo "# uploaded to one apt dist (apt/bench, bookworm) $PER_REQUEST per /addpkg request, one request at a time,"
  echo "# each waiting for its publish (default wait), so N/$PER_REQUEST publishes; .debs uploaded: $deb_bytes bytes"
  echo "# upload_s: wall time of all N/$PER_REQUEST requests; sizes in MiB (du -sb): data = the data directory"
  echo "# without server.log, sqlite = artifactd.db + -wal + -shm; the local store's root is"
  echo "# <data_dir>/blobs: blobs = its blobs/ (package files), index = its index/ (idx_files files in it)"
  echo "# sets = index_sets rows, manifest = their manifest bytes; peak_RSS = VmHWM of the"
  echo "# server at the time of the row, RSS = VmRSS then; gc = server log lines about garbage collection"
  echo "# ('collect' or 'removed expired index')."
  echo "# default-grace: grace_period_secs=3600, after the uploads (nothing can expire yet)"
  echo "# grace5: GRACE_PERIOD_SECS=5, GC_INTERVAL_SECS=1, after the uploads (GC already ran during them);"
  echo "# grace5+10s+1: the same server after a 10 s pause and one more single-package upload (upload_s:"
  echo "# that one request; debs_MiB: the N bulk .debs only)"
  if [ "$N" != 20000 ]; then
    echo "# NOTE: run with N=$N instead of the default 20000 (the script's default), to stay within the time budget"
  fi
  printf "$row_fmt" pass N debs_MiB upload_s data_MiB sqlite_MiB blobs_MiB index_MiB idx_files sets manifest peak_RSS RSS_MiB gc
} >"$out"

report() { # LABEL PACKAGES UPLOAD_MS DIR PID
  local label=$1 n=$2 up_ms=$3 dir=$4 pid=$5
  local data sqlite blobs index files sets manifest gc
  data=$(du_b --exclude=server.log "$dir")
  sqlite=$(bytes_of "$dir"/artifactd.db "$dir"/artifactd.db-wal "$dir"/artifactd.db-shm)
  # The local store's root is <data_dir>/blobs; package files are under
  # blobs/sha256/, index files under index/<repo_id>/ within it.
  blobs=$(bytes_of "$dir/blobs/blobs")
  index=$(bytes_of "$dir/blobs/index")
  files=0
  [ -d "$dir/blobs/index" ] && files=$({ find "$dir/blobs/index" -type f 2>/dev/null || true; } | wc -l)
  sets=$(sql "SELECT COUNT(*) FROM index_sets")
  manifest=$(sql "SELECT COALESCE(SUM(LENGTH(manifest)), 0) FROM index_sets")
  gc=$(grep -cE 'collect|removed expired index' "$dir/server.log" || true)
  printf "$row_fmt" "$label" "$n" "$(mib "$deb_bytes")" \
    "$(awk -v m="$up_ms" 'BEGIN { printf "%.1f", m / 1000 }')" \
    "$(mib "$data")" "$(mib "$sqlite")" "$(mib "$blobs")" "$(mib "$index")" "$files" "$sets" \
    "$(mib "$manifest")" "$(peak_rss_mib "$pid")" \
    "$(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")" "$gc" | tee -a "$out"
}

run_pass() { # LABEL [VAR=VALUE...]
  local label=$1; shift
  local dir="$WORK/$label" port t0 up_ms
  port=$(free_port)
  start_artifactd "$dir" "$port" ARTIFACTD_LOG=info "$@"
  DB="$dir/artifactd.db"
  BASE="http://127.0.0.1:$port"
  echo "== $label: uploading $N packages"
  t0=$(now_ms); upload_all "$BASE"; up_ms=$(( $(now_ms) - t0 ))
  report "$label" "$N" "$up_ms" "$dir" "$ARTIFACTD_PID"
}

stop() {
  kill "$ARTIFACTD_PID"; wait "$ARTIFACTD_PID" 2>/dev/null || true
  ARTIFACTD_PID=
}

run_pass default-grace
stop
rm -rf "$WORK/default-grace"

run_pass grace5 ARTIFACTD_PUBLISH_GRACE_PERIOD_SECS=5 ARTIFACTD_PUBLISH_GC_INTERVAL_SECS=1
echo "== grace5: waiting 10 s, then one more upload"
sleep 10
t0=$(now_ms)
curl -fsS -o /dev/null -H "Authorization: Bearer $BENCH_TOKEN" -F "f=@${extras[0]}" \
  "$BASE/addpkg?provider=apt&reponame=bench&dist=bookworm"
report grace5+10s+1 "$((N + 1))" "$(( $(now_ms) - t0 ))" "$WORK/grace5" "$ARTIFACTD_PID"
stop
cat "$out"
