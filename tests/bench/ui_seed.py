"""Seeds a tar repository for tests/bench/ui.sh: N packages named
pkg-00000.., one version each (every tenth has a second), uploaded 200
files per request with ?wait=0, then waits until all are published.

    python3 ui_seed.py BASE_URL TOKEN REPO N
"""
import http.client, io, json, sys, tarfile, time, urllib.parse, uuid


def tar_bytes(name, size):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo(name)
        info.size = size
        t.addfile(info, io.BytesIO(b"x" * size))
    return buf.getvalue()


def form(files):
    bnd = uuid.uuid4().hex
    out = io.BytesIO()
    for filename, content in files:
        out.write(f'--{bnd}\r\nContent-Disposition: form-data; name="f"; filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode())
        out.write(content)
        out.write(b"\r\n")
    out.write(f"--{bnd}--\r\n".encode())
    return f"multipart/form-data; boundary={bnd}", out.getvalue()


def main():
    base, token, repo, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    files = [(f"pkg-{i:05d}-1.0.tar", i % 97 * 10) for i in range(n)]
    files += [(f"pkg-{i:05d}-1.1.tar", 5) for i in range(0, n, 10)]
    for start in range(0, len(files), 200):
        batch = [(name, tar_bytes("f", size)) for name, size in files[start:start + 200]]
        ctype, body = form(batch)
        conn.request("POST", f"/addpkg?provider=tar&reponame={repo}&wait=0", body,
                     {"Content-Type": ctype, "Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        data = r.read()
        if r.status not in (200, 201, 202):
            sys.exit(f"upload failed: {r.status} {data[:300]!r}")
    for _ in range(600):
        conn.request("GET", f"/api/v1/repos/tar/{repo}")
        r = conn.getresponse()
        state = json.loads(r.read())
        if state["published_seq"] >= state["change_seq"]:
            return
        time.sleep(0.1)
    sys.exit("not published after 60 s")


main()
