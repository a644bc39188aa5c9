#!/usr/bin/env bash
# What a busy CI estate costs: N .debs into one apt dist and N .rpms into
# one rpm dist, one file per request from 4 parallel clients, each waiting
# for its publish (default wait); then, on the full dist, single uploads
# answered when visible and a burst of 200 uploads from 16 clients; then the
# disk, first with every superseded set still in its grace period (default
# one hour) and then after it (the same data, server restarted with a 5 s
# grace period, one upload per repository so collection runs).
# Embedded defaults (SQLite + local storage), release build.
#
#   tests/bench/bulk-upload.sh          -> tests/bench/results/bulk-upload.txt
#   N=2000 tests/bench/bulk-upload.sh
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$ROOT/tests/services.sh"
ensure_packages rpm curl
build_release
(cd "$ROOT" && cargo build --release --locked -q -p artifactd-tests --bin gen-debs)

N=${N:-10000}
CLIENTS=4
PORT=${PORT:-18441}
WORK=$(mktemp -d /tmp/artifactd-bench-bulk.XXXXXX)
trap 'kill ${ARTIFACTD_PID:-} 2>/dev/null; rm -rf "$WORK"' EXIT
BASE="http://127.0.0.1:$PORT"
CLIENT="$ROOT/tests/bench/upload_client.py"

echo "== generating $N debs and $N rpms"
"$ROOT/target/release/gen-debs" "$WORK/debs" "$N" >/dev/null
"$ROOT/target/release/gen-debs" "$WORK/debs-late" 210 late >/dev/null
gen_rpms "$WORK/rpms" bench "$N"
find "$WORK/debs" -name '*.deb' | sort >"$WORK/debs.list"
find "$WORK/rpms/rpms" -name '*.rpm' | sort >"$WORK/rpms.list"
find "$WORK/debs-late" -name '*.deb' | sort >"$WORK/late.list"
head -10 "$WORK/late.list" >"$WORK/single.list"
tail -200 "$WORK/late.list" >"$WORK/burst.list"
[ "$(wc -l <"$WORK/rpms.list")" -eq "$N" ] || { echo "built the wrong number of rpms" >&2; exit 1; }
pkg_bytes=$(cat "$WORK/debs.list" "$WORK/rpms.list" "$WORK/late.list" | xargs stat -c %s | awk '{ s += $1 } END { print s }')

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
upload() { # NAME LIST CLIENTS QUERY
  python3 "$CLIENT" "$BASE/addpkg?$4" "$BENCH_TOKEN" "$2" "$3" 1000 "$WORK/$1.json" >/dev/null
}
disk() { # PASS
  local data db index blobs
  # du fails on files a collection removes while it counts: not an error.
  data=$({ du -sb --exclude=server.log "$WORK/data" 2>/dev/null || true; } | tail -1 | cut -f1)
  db=$({ du -cb "$WORK/data"/*.db* 2>/dev/null || true; } | tail -1 | cut -f1)
  index=$({ du -sb "$WORK/data/blobs/index" 2>/dev/null || true; } | tail -1 | cut -f1)
  blobs=$({ du -sb "$WORK/data/blobs/blobs" 2>/dev/null || true; } | tail -1 | cut -f1)
  printf "%-16s %10s %10s %10s %10s %10s %8s\n" "$1" "$(mib "$pkg_bytes")" "$(mib "$data")" "$(mib "$db")" \
    "$(mib "$blobs")" "$(mib "$index")" "$(awk -v d="$data" -v p="$pkg_bytes" 'BEGIN { printf "%.2f", d / p }')"
}

start_artifactd "$WORK/data" "$PORT"
echo "== $N debs, $CLIENTS clients"
upload debs "$WORK/debs.list" "$CLIENTS" "provider=apt&reponame=bulk&dist=bookworm"
echo "== $N rpms, $CLIENTS clients"
upload rpms "$WORK/rpms.list" "$CLIENTS" "provider=rpm&reponame=bulk&dist=el9"
echo "== single uploads and a burst into the full dist"
upload single "$WORK/single.list" 1 "provider=apt&reponame=bulk&dist=bookworm"
upload burst "$WORK/burst.list" 16 "provider=apt&reponame=bulk&dist=bookworm"
rss=$(peak_rss_mib "$ARTIFACTD_PID")
listed=$(curl -fsS "$BASE/repo/apt/bulk/dists/bookworm/main/binary-amd64/Packages.gz" | zcat | grep -c '^Package: ')
[ "$listed" -eq $((N + 210)) ] || { echo "Packages lists $listed packages, expected $((N + 210))" >&2; exit 1; }

out="$RESULTS/bulk-upload.txt"
{
  echo "# $N debs into one apt dist and $N rpms into one rpm dist, one file per request, default wait ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
  echo "# artifactd release build, embedded defaults (SQLite + local storage); clients: tests/bench/upload_client.py,"
  echo "# one keep-alive connection each; rate: uploads/s over the run, first/last: over its first and last 1,000"
  printf "%-34s %10s %8s %8s %8s %12s\n" run seconds rate first last median_ms
  for r in debs rpms; do
    w=$(python3 -c 'import json,sys; w=json.load(open(sys.argv[1]))["rate_per_window"]; print(w[0], w[-1])' "$WORK/$r.json")
    printf "%-34s %10s %8s %8s %8s %12s\n" "$N $r, $CLIENTS clients" "$(field "$WORK/$r.json" seconds)" \
      "$(field "$WORK/$r.json" rate)" ${w} "$(field "$WORK/$r.json" latency_ms_median)"
  done
  printf "%-34s %10s %8s %8s %8s %12s\n" "1 deb into the full dist (x10)" "$(field "$WORK/single.json" seconds)" \
    "$(field "$WORK/single.json" rate)" - - "$(field "$WORK/single.json" latency_ms_median)"
  printf "%-34s %10s %8s %8s %8s %12s\n" "200 debs, 16 clients, all visible" "$(field "$WORK/burst.json" seconds)" \
    "$(field "$WORK/burst.json" rate)" - - "$(field "$WORK/burst.json" latency_ms_median)"
  echo "# server peak RSS: $rss MiB"
  echo "# disk (MiB, du -sb): data = data directory without server.log, sqlite = database + WAL, blobs = package"
  echo "# files, index = index objects; ratio = data / package bytes"
  printf "%-16s %10s %10s %10s %10s %10s %8s\n" pass packages data sqlite blobs index ratio
  disk in-grace
} >"$out"

echo "== after the grace period"
kill "$ARTIFACTD_PID"; wait "$ARTIFACTD_PID" 2>/dev/null || true
sleep 6
start_artifactd "$WORK/data" "$PORT" ARTIFACTD_PUBLISH_GRACE_PERIOD_SECS=5 ARTIFACTD_PUBLISH_GC_INTERVAL_SECS=1
"$ROOT/target/release/gen-debs" "$WORK/debs-gc" 2 gc >/dev/null
gen_rpms "$WORK/rpms-gc" gc 2
find "$WORK/debs-gc" -name '*.deb' | sort >"$WORK/gc-deb.list"
find "$WORK/rpms-gc/rpms" -name '*.rpm' | sort >"$WORK/gc-rpm.list"
# Collection runs after a publish, at most once per interval and not in
# the first: one upload per repository, a pause, then another.
for round in 1 2; do
  sed -n "${round}p" "$WORK/gc-deb.list" >"$WORK/gc-deb-$round.list"
  sed -n "${round}p" "$WORK/gc-rpm.list" >"$WORK/gc-rpm-$round.list"
  upload "gc-deb-$round" "$WORK/gc-deb-$round.list" 1 "provider=apt&reponame=bulk&dist=bookworm"
  upload "gc-rpm-$round" "$WORK/gc-rpm-$round.list" 1 "provider=rpm&reponame=bulk&dist=el9"
  sleep 3
done
# The blob sweep and the collections run in the background: wait until
# the index objects and blobs stop shrinking (deleting ~150,000 superseded
# objects takes a while), at most two minutes.
settled() { du -sb "$WORK/data/blobs" 2>/dev/null | tail -1 | cut -f1 || true; }
prev=$(settled)
for _ in $(seq 60); do
  sleep 2
  now=$(settled)
  [ "$now" = "$prev" ] && break
  prev=$now
done
disk after-grace >>"$out"
cat "$out"
