#!/usr/bin/env bash
# Uploads one 1 GiB archive through /addpkg and records throughput and the
# server's peak RSS, for local storage and for S3 (s3s-fs). The target is a
# peak RSS far below the file size (under 100 MiB): uploads are streamed.
#
#   tests/bench/upload.sh            -> tests/bench/results/upload.txt
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$ROOT/tests/services.sh"
ensure_packages curl
build_release

WORK=$(mktemp -d /tmp/artifactd-bench-upload.XXXXXX)
trap 'kill ${ARTIFACTD_PID:-} 2>/dev/null; stop_services; rm -rf "$WORK"' EXIT
start_services "$WORK/svc"

SIZE_MIB=${SIZE_MIB:-1024}
mkdir -p "$WORK/src"
head -c $((SIZE_MIB << 20)) /dev/urandom >"$WORK/src/payload.bin"
tar -C "$WORK/src" -cf "$WORK/big-1.0.tar" payload.bin
rm "$WORK/src/payload.bin"
bytes=$(stat -c %s "$WORK/big-1.0.tar")

out="$RESULTS/upload.txt"
{
  echo "# 1 GiB upload through /addpkg ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, release build)"
  echo "# file: ${bytes} bytes; target: peak server RSS under 100 MiB"
  printf "%-22s %10s %12s %14s\n" backend seconds MiB/s peak_RSS_MiB
} >"$out"

run() { # NAME EXTRA_ENV...
  local name=$1; shift
  local port; port=$(free_port)
  start_artifactd "$WORK/$name" "$port" "$@"
  local t0 t1 code
  t0=$(date +%s.%N)
  code=$(curl -sS -o "$WORK/$name/resp.json" -w '%{http_code}' -H "Authorization: Bearer $BENCH_TOKEN" \
    -F "f=@$WORK/big-1.0.tar" "http://127.0.0.1:$port/addpkg?provider=tar&reponame=bench")
  t1=$(date +%s.%N)
  [ "$code" = 201 ] || { echo "upload failed: $code $(cat "$WORK/$name/resp.json")" >&2; exit 1; }
  local rss; rss=$(peak_rss_mib "$ARTIFACTD_PID")
  kill "$ARTIFACTD_PID"; wait "$ARTIFACTD_PID" 2>/dev/null || true
  awk -v n="$name" -v a="$t0" -v b="$t1" -v s="$bytes" -v r="$rss" \
    'BEGIN { printf "%-22s %10.2f %12.1f %14s\n", n, b-a, s/1048576/(b-a), r }' >>"$out"
}

run sqlite+local
mariadb --socket="$WORK/svc/mysql/sock" -uroot -e "CREATE DATABASE bench CHARACTER SET utf8mb4"
run mariadb+s3 DATABASE_URL="$ARTIFACTD_TEST_MYSQL_URL/bench" S3_URL="$ARTIFACTD_TEST_S3_URL" ARTIFACTD_S3_PREFIX=bench/
cat "$out"
