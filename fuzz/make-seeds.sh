#!/usr/bin/env bash
# Regenerates the committed seed corpora under fuzz/seeds/<target>/ from
# tests/fixtures/ and from small packages built here. Not run by CI: the
# seeds are committed. Needs dpkg-deb, rpmbuild (apt-get install rpm),
# zstd and python3.
#
# pypi_dist and tar_archive inputs are "FILENAME\n" followed by the file,
# as those targets read them (the name picks the format and must match the
# metadata).
set -euo pipefail
cd "$(dirname "$0")/.."
FX=tests/fixtures
OUT=fuzz/seeds
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
rm -rf "$OUT"
mkdir -p "$OUT"/{apt_deb,apt_control,apt_dsc,pypi_metadata,pypi_dist,rpm_header,rpm_package,tar_archive}
export SOURCE_DATE_EPOCH=1700000000

# --- apt_deb: one real package, and tiny ones in each compression dpkg-deb makes.
cp "$FX/deb/python3-six_1.16.0-4_all.deb" "$OUT/apt_deb/"
pkg="$SCRATCH/deb"
mkdir -p "$pkg/DEBIAN" "$pkg/usr/share/doc/fuzzseed"
cat >"$pkg/DEBIAN/control" <<'EOF'
Package: fuzzseed
Version: 1:1.0~rc1-2+b1
Architecture: amd64
Maintainer: Fuzz Seed <fuzz@example.org>
Source: fuzzseed-src (1.0~rc1-2)
Depends: libc6 (>= 2.36)
Description: seed package for fuzzing
 A second line.
 .
 A third paragraph.
EOF
echo hello >"$pkg/usr/share/doc/fuzzseed/README"
for z in gzip xz zstd none; do
  dpkg-deb --root-owner-group -Z"$z" -b "$pkg" "$OUT/apt_deb/fuzzseed-$z.deb" >/dev/null
done

# --- apt_control: control files of the fixture debs, and a Packages-like text.
for deb in "$FX"/deb/*.deb; do
  dpkg-deb -f "$deb" >"$OUT/apt_control/$(basename "$deb" .deb).control"
done
cp "$pkg/DEBIAN/control" "$OUT/apt_control/fuzzseed.control"
cat >"$OUT/apt_control/paragraphs.txt" <<'EOF'
# a comment
Package: a
Version: 1.0
Description: first
 continued
	tab-continued

Package: b
Version: 2
Files:
 d41d8cd98f00b204e9800998ecf8427e 0 empty
EOF

# --- apt_dsc: the real (clearsigned) .dsc and an unsigned one.
cp "$FX/deb-src/hello_2.10-3.dsc" "$OUT/apt_dsc/"
cat >"$OUT/apt_dsc/unsigned.dsc" <<'EOF'
Format: 1.0
Source: fuzzseed
Version: 1.0-1
Binary: fuzzseed
Checksums-Sha256:
 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 fuzzseed_1.0-1.tar.gz
Files:
 d41d8cd98f00b204e9800998ecf8427e 0 fuzzseed_1.0-1.tar.gz
EOF

# --- pypi: core metadata of the fixtures; the smaller wheels and sdists;
# tiny generated ones in every kind.
python3 - "$FX/pypi" "$OUT" <<'EOF'
import io, sys, tarfile, zipfile, pathlib
fx, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for whl in sorted(fx.glob("*.whl")):
    z = zipfile.ZipFile(whl)
    for n in z.namelist():
        if n.endswith((".dist-info/METADATA", ".dist-info/WHEEL")):
            (out / "pypi_metadata" / f"{whl.stem}.{n.rsplit('/', 1)[1]}").write_bytes(z.read(n))
for sd in sorted(fx.glob("*.tar.gz")):
    with tarfile.open(sd) as t:
        for m in t.getmembers():
            if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO"):
                (out / "pypi_metadata" / f"{sd.name[:-7]}.PKG-INFO").write_bytes(t.extractfile(m).read())
for name in ["six-1.16.0-py2.py3-none-any.whl", "six-1.16.0.tar.gz",
             "typing_extensions-4.12.2-py3-none-any.whl"]:
    (out / "pypi_dist" / name).write_bytes(name.encode() + b"\n" + (fx / name).read_bytes())

md = b"Metadata-Version: 2.1\nName: fuzz-seed\nVersion: 1.0.post1\nRequires-Python: >=3.8\nSummary: seed\n\nBody text.\n"
def zipped(files):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in files:
            z.writestr(zipfile.ZipInfo(n, (2023, 11, 14, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return b.getvalue()
whl = "fuzz_seed-1.0.post1-py3-none-any.whl"
di = "fuzz_seed-1.0.post1.dist-info"
wheel = zipped([("fuzz_seed/__init__.py", b""), (f"{di}/METADATA", md),
                (f"{di}/WHEEL", b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
                (f"{di}/RECORD", b"fuzz_seed/__init__.py,,\n")])
(out / "pypi_dist" / whl).write_bytes(whl.encode() + b"\n" + wheel)
(out / "pypi_dist" / "fuzz_seed-1.0.post1.zip").write_bytes(
    b"fuzz_seed-1.0.post1.zip\n" + zipped([("fuzz_seed-1.0.post1/PKG-INFO", md),
                                           ("fuzz_seed-1.0.post1/setup.py", b"")]))
b = io.BytesIO()
with tarfile.open(fileobj=b, mode="w:gz", format=tarfile.PAX_FORMAT) as t:
    for n, data in [("fuzz_seed-1.0.post1/PKG-INFO", md), ("fuzz_seed-1.0.post1/setup.py", b"")]:
        ti = tarfile.TarInfo(n); ti.size = len(data); ti.mtime = 1700000000
        t.addfile(ti, io.BytesIO(data))
(out / "pypi_dist" / "fuzz_seed-1.0.post1.tar.gz").write_bytes(b"fuzz_seed-1.0.post1.tar.gz\n" + b.getvalue())

# --- tar_archive: one small archive per accepted suffix (zstd added below).
def tarred(mode):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode=mode, format=tarfile.GNU_FORMAT) as t:
        d = tarfile.TarInfo("pkg-1.0"); d.type = tarfile.DIRTYPE; d.mtime = 1700000000
        t.addfile(d)
        for n, data in [("pkg-1.0/README", b"hello\n"), ("pkg-1.0/bin/tool", b"#!/bin/sh\necho hi\n")]:
            ti = tarfile.TarInfo(n); ti.size = len(data); ti.mtime = 1700000000
            t.addfile(ti, io.BytesIO(data))
        l = tarfile.TarInfo("pkg-1.0/link"); l.type = tarfile.SYMTYPE; l.linkname = "README"
        t.addfile(l)
    return b.getvalue()
for name, mode in [("pkg-1.0.tar", "w"), ("pkg-1.0.tar.gz", "w:gz"),
                   ("pkg-1.0.tar.bz2", "w:bz2"), ("pkg-1.0.txz", "w:xz")]:
    (out / "tar_archive" / name).write_bytes(name.encode() + b"\n" + tarred(mode))
(out / "tar_archive" / "pkg-1.0.zip").write_bytes(
    b"pkg-1.0.zip\n" + zipped([("pkg-1.0/README", b"hello\n"), ("pkg-1.0/empty", b"")]))
b = io.BytesIO()
with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED) as z:
    z.writestr("stored.txt", b"stored\n")
(out / "tar_archive" / "stored-2.zip").write_bytes(b"stored-2.zip\n" + b.getvalue())
# Two entries in bzip2 (method 12, which the provider's zip build does not
# decode, so it counts the sizes they claim), sizes in zip64 extra fields:
# the shape of an input that once overflowed the provider's size sum.
import struct
body, central = b"", b""
for name, size in [(b"a", 10), (b"b", 20)]:
    extra = struct.pack("<HHQQ", 1, 16, size, 1)
    central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 12, 0, 0, 0,
                           0xFFFFFFFF, 0xFFFFFFFF, len(name), len(extra), 0, 0, 0, 0,
                           len(body)) + name + extra
    body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 12, 0, 0, 0, 0xFFFFFFFF,
                        0xFFFFFFFF, len(name), len(extra)) + name + extra + b"x"
eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 2, 2, len(central), len(body), 0)
(out / "tar_archive" / "zip64-3.zip").write_bytes(b"zip64-3.zip\n" + body + central + eocd)
EOF
python3 -c "import sys; sys.stdout.buffer.write(open('$OUT/tar_archive/pkg-1.0.tar','rb').read().split(b'\n',1)[1])" \
  | zstd -q -c >"$SCRATCH/t.zst"
{ printf 'pkg-1.0.tar.zst\n'; cat "$SCRATCH/t.zst"; } >"$OUT/tar_archive/pkg-1.0.tar.zst"

# --- rpm: the provider's test package, and a noarch and a source rpm with
# dependencies, scripts, a changelog and a directory.
cp providers/rpm/testdata/hello-1.0-1.el9.x86_64.rpm "$OUT/rpm_package/"
top="$SCRATCH/rpmbuild"
mkdir -p "$top"/{SPECS,SOURCES}
cat >"$top/SPECS/seed.spec" <<'EOF'
Name:           fuzzseed
Version:        2.0
Release:        3
Epoch:          1
Summary:        Seed package for fuzzing
License:        MIT
URL:            https://example.org/fuzzseed
BuildArch:      noarch
Requires:       bash >= 5.0
Requires(pre):  shadow-utils
Provides:       fuzzseed-tool = 2.0
Obsoletes:      oldseed < 1.0
Recommends:     less
Conflicts:      badseed

%description
A package with a little of everything the repository metadata reads.

%install
mkdir -p %{buildroot}/etc/fuzzseed %{buildroot}/usr/bin
echo 'x=1' > %{buildroot}/etc/fuzzseed/seed.conf
printf '#!/bin/sh\necho seed\n' > %{buildroot}/usr/bin/fuzzseed

%pre
true

%files
%dir /etc/fuzzseed
%config(noreplace) /etc/fuzzseed/seed.conf
%attr(0755,root,root) /usr/bin/fuzzseed
%ghost /var/log/fuzzseed.log

%changelog
* Tue Nov 14 2023 Fuzz Seed <fuzz@example.org> - 1:2.0-3
- Second entry.
* Mon Nov 13 2023 Fuzz Seed <fuzz@example.org> - 1:2.0-2
- First entry.
EOF
rpmbuild --quiet --define "_topdir $top" --define '_binary_payload w9.gzdio' \
  --define '_source_payload w9.gzdio' -ba "$top/SPECS/seed.spec" >/dev/null 2>&1 \
  || rpmbuild --define "_topdir $top" -ba "$top/SPECS/seed.spec"
cp "$top"/RPMS/noarch/*.rpm "$top"/SRPMS/*.rpm "$OUT/rpm_package/"
cp "$OUT"/rpm_package/*.rpm "$OUT/rpm_header/"

du -sh "$OUT"
for d in "$OUT"/*/; do echo "$(ls "$d" | wc -l) $(du -sh "$d" | cut -f1) $d"; done
