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
  # A restart over a large repository loads its state first: allow a minute.
  for i in $(seq 1 600); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "artifactd did not start; log:" >&2; cat "$dir/server.log" >&2; return 1
}

peak_rss_mib() { # PID
  awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"
}

# gen_rpms DIR PREFIX COUNT: COUNT small noarch packages, each with one file,
# a Requires on the next, a changelog entry, built as subpackages of specs
# of 1,000 (rpmbuild's per-run cost dominates otherwise).
gen_rpms() {
  local dir=$1 prefix=$2 count=$3
  mkdir -p "$dir/specs"
  python3 - "$dir/specs" "$prefix" "$count" <<'PY'
import sys
out, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
per = 1000
for s in range(0, n, per):
    ids = range(s, min(n, s + per))
    spec = [f"Name: {prefix}-base-{s}\nVersion: 1.0\nRelease: 1\nSummary: base\nLicense: MIT\nBuildArch: noarch\n%description\nbase\n"]
    for i in ids:
        spec.append(f"%package -n {prefix}-{i:06d}\nSummary: Benchmark package {i}\nRequires: {prefix}-{(i + 1) % n:06d}\nProvides: {prefix}-feature-{i} = 1.0\n"
                    f"%description -n {prefix}-{i:06d}\nBenchmark package number {i}, generated to measure publishing.\n")
    spec.append("%install\nmkdir -p %{buildroot}/usr/share/" + prefix + "\n")
    spec.append("".join(f"echo {i} > %{{buildroot}}/usr/share/{prefix}/f{i:06d}\n" for i in ids))
    spec.append("%files\n")
    for i in ids:
        spec.append(f"%files -n {prefix}-{i:06d}\n/usr/share/{prefix}/f{i:06d}\n")
    spec.append("%changelog\n* Sat Nov 01 2025 Bench <bench@example.invalid> - 1.0-1\n- Generated\n")
    open(f"{out}/{prefix}-{s}.spec", "w").write("".join(spec))
PY
  ls "$dir/specs"/*.spec | xargs -P "$(nproc)" -I{} sh -c '
    rpmbuild -bb --quiet --define "_topdir $1/top-$(basename {} .spec)" --define "_build_id_links none" \
      --define "__os_install_post %{nil}" {} >/dev/null 2>&1' _ "$dir"
  mkdir -p "$dir/rpms"
  find "$dir" -path '*/RPMS/*' -name "$prefix-0*.rpm" -exec mv -t "$dir/rpms" {} +
  rm -rf "$dir"/top-* "$dir/specs"
}
