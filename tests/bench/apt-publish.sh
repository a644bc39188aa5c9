#!/usr/bin/env bash
# What it costs to add one package to an apt dist that already holds N
# packages and republish it (Packages, .gz, .xz, Release, InRelease,
# Release.gpg): artifactd, reprepro and aptly on the same generated .deb
# files, in the same run, each signing with an Ed25519 key.
# Targets for artifactd: <= 50 ms at 10,000 packages, <= 150 ms at 50,000.
#
#   tests/bench/apt-publish.sh                 -> tests/bench/results/apt-publish.txt
#   SIZES="10000" ROUNDS=5 tests/bench/apt-publish.sh
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$ROOT/tests/services.sh"
ensure_packages reprepro aptly gnupg curl
build_release
(cd "$ROOT" && cargo build --release --locked -q -p artifactd-tests --bin gen-debs)
GEN="$ROOT/target/release/gen-debs"

SIZES=${SIZES:-"10000 50000"}
ROUNDS=${ROUNDS:-5}
WORK=$(mktemp -d /tmp/artifactd-bench-apt.XXXXXX)
trap 'kill ${ARTIFACTD_PID:-} 2>/dev/null; rm -rf "$WORK"' EXIT

export GNUPGHOME="$WORK/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'bench <bench@example.invalid>' ed25519 sign never 2>/dev/null
KEYID=$(gpg --list-keys --with-colons | awk -F: '/^fpr/ { print $10; exit }')

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
now_ms() { date +%s%3N; }

out="$RESULTS/apt-publish.txt"
{
  echo "# Add one package to a dist of N and republish, same .deb files, same run ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
  echo "# median of $ROUNDS rounds, milliseconds; artifactd: release build, SQLite + local storage, Ed25519 key"
  echo "# artifactd 'publish' is the server's own publish time (render, store, flip); 'upload' is the whole"
  echo "# /addpkg round trip until the package is published"
  echo "# peak_RSS: the server's VmHWM (MiB) after seeding and the rounds; after_restart: a new server on the"
  echo "# full dist, its first read and its first upload (the first publish renders every package): round trip"
  echo "# (ms) and VmHWM (MiB)"
  printf "%8s %18s %18s %12s %12s %10s %14s %12s\n" N artifactd_publish artifactd_upload reprepro aptly peak_RSS restart_upload restart_RSS
} >"$out"

for N in $SIZES; do
  echo "== N=$N: generating packages"
  "$GEN" "$WORK/debs-$N" "$N"
  "$GEN" "$WORK/extra-$N" "$ROUNDS" extra
  "$GEN" "$WORK/late-gen-$N" 1 late >/dev/null
  mv "$(ls "$WORK/late-gen-$N"/*.deb)" "$WORK/late-$N.deb"
  mapfile -t extras < <(ls "$WORK/extra-$N"/*.deb)

  echo "== artifactd: seeding $N packages"
  port=$(free_port)
  start_artifactd "$WORK/a-$N" "$port" ARTIFACTD_LOG=info
  base="http://127.0.0.1:$port"
  # 100 packages per request: seeding is not what is measured.
  find "$WORK/debs-$N" -name '*.deb' -print0 | xargs -0 -n 100 -P 2 sh -c '
    token=$0; base=$1; shift
    args=""; for f; do args="$args -F f=@$f"; done
    curl -fsS -o /dev/null -H "Authorization: Bearer $token" $args "$base/addpkg?provider=apt&reponame=bench&dist=bookworm&wait=0"
  ' "$BENCH_TOKEN" "$base"
  until curl -fsS "$base/api/v1/repos/apt/bench" | python3 -c 'import json,sys; r=json.load(sys.stdin); sys.exit(r["published_seq"] != r["change_seq"])'; do sleep 0.5; done
  pub=(); up=()
  for deb in "${extras[@]}"; do
    t0=$(now_ms)
    curl -fsS -o /dev/null -H "Authorization: Bearer $BENCH_TOKEN" -F "f=@$deb" "$base/addpkg?provider=apt&reponame=bench&dist=bookworm"
    up+=($(( $(now_ms) - t0 )))
    pub+=("$(grep 'published' "$WORK/a-$N/server.log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g' | sed -n 's/.*ms=\([0-9]*\).*/\1/p')")
  done
  a_rss=$(peak_rss_mib "$ARTIFACTD_PID")
  kill "$ARTIFACTD_PID"; wait "$ARTIFACTD_PID" 2>/dev/null || true
  a_pub=$(printf '%s\n' "${pub[@]}" | median); a_up=$(printf '%s\n' "${up[@]}" | median)
  # An instance starting on the full dist: its first read loads the state,
  # its first publish renders every package (no caches yet).
  start_artifactd "$WORK/a-$N" "$port" ARTIFACTD_LOG=info
  curl -fsS -o /dev/null "$base/repo/apt/bench/dists/bookworm/InRelease"
  t0=$(now_ms)
  curl -fsS -o /dev/null -H "Authorization: Bearer $BENCH_TOKEN" -F "f=@$WORK/late-$N.deb" "$base/addpkg?provider=apt&reponame=bench&dist=bookworm"
  a_first=$(( $(now_ms) - t0 ))
  a_restart_rss=$(peak_rss_mib "$ARTIFACTD_PID")
  kill "$ARTIFACTD_PID"; wait "$ARTIFACTD_PID" 2>/dev/null || true

  echo "== reprepro: seeding"
  R="$WORK/reprepro-$N"; mkdir -p "$R/conf"
  printf 'Codename: bookworm\nArchitectures: amd64 arm64\nComponents: main\nSignWith: %s\n' "$KEYID" >"$R/conf/distributions"
  find "$WORK/debs-$N" -name '*.deb' -print0 | xargs -0 -n 2000 reprepro -b "$R" --silent includedeb bookworm
  rep=()
  for deb in "${extras[@]}"; do
    t0=$(now_ms); reprepro -b "$R" --silent includedeb bookworm "$deb"; rep+=($(( $(now_ms) - t0 )))
  done
  r_ms=$(printf '%s\n' "${rep[@]}" | median)

  echo "== aptly: seeding"
  A="$WORK/aptly-$N"; mkdir -p "$A"
  printf '{"rootDir": "%s", "gpgProvider": "gpg2"}\n' "$A" >"$A/aptly.conf"
  aptly() { command aptly -config="$A/aptly.conf" "$@" >/dev/null; }
  aptly repo create -distribution=bookworm -component=main bench
  aptly repo add bench "$WORK/debs-$N"
  aptly publish repo -batch -gpg-key="$KEYID" -architectures=amd64,arm64 bench
  apt_ms=()
  for deb in "${extras[@]}"; do
    t0=$(now_ms); aptly repo add bench "$deb"; aptly publish update -batch -gpg-key="$KEYID" bookworm; apt_ms+=($(( $(now_ms) - t0 )))
  done
  l_ms=$(printf '%s\n' "${apt_ms[@]}" | median)

  printf "%8s %18s %18s %12s %12s %10s %14s %12s\n" "$N" "$a_pub" "$a_up" "$r_ms" "$l_ms" "$a_rss" "$a_first" "$a_restart_rss" >>"$out"
  rm -rf "$WORK/debs-$N" "$R" "$A" "$WORK/a-$N"
done
cat "$out"
