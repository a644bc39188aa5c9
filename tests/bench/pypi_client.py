"""Upload client for tests/bench/pypi.sh: builds N small wheels of one project
and uploads them one after another over one keep-alive connection with
twine's legacy upload form, printing the rate per window of 200 uploads.

    python3 pypi_client.py URL TOKEN N OUT.json
"""
import base64, hashlib, http.client, io, json, sys, time, urllib.parse, uuid, zipfile


def wheel(version):
    name = "bench_pkg"
    di = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{di}/METADATA": f"Metadata-Version: 2.1\nName: bench-pkg\nVersion: {version}\nRequires-Python: >=3.8\nSummary: benchmark package\n\n".encode(),
        f"{di}/WHEEL": b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b'=').decode()},{len(b)}\n"
        for p, b in files.items()
    ) + f"{di}/RECORD,,\n"
    files[f"{di}/RECORD"] = record.encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for p, b in files.items():
            z.writestr(zipfile.ZipInfo(p, (2020, 1, 1, 0, 0, 0)), b)
    return f"{name}-{version}-py3-none-any.whl", buf.getvalue()


def form(fields, filename, content):
    bnd = uuid.uuid4().hex
    out = io.BytesIO()
    for k, v in fields.items():
        out.write(f'--{bnd}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    out.write(f'--{bnd}\r\nContent-Disposition: form-data; name="content"; filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode())
    out.write(content)
    out.write(f"\r\n--{bnd}--\r\n".encode())
    return f"multipart/form-data; boundary={bnd}", out.getvalue()


def main():
    url, token, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    u = urllib.parse.urlsplit(url)
    auth = "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()
    bodies = []
    for i in range(n):
        version = f"1.0.{i}"
        filename, content = wheel(version)
        fields = {
            ":action": "file_upload", "protocol_version": "1", "name": "bench-pkg",
            "version": version, "filetype": "bdist_wheel", "pyversion": "py3",
            "metadata_version": "2.1", "sha256_digest": hashlib.sha256(content).hexdigest(),
        }
        bodies.append(form(fields, filename, content))
    target = u.path + (f"?{u.query}" if u.query else "")
    conn = http.client.HTTPConnection(u.hostname, u.port)
    stamps = []
    t0 = time.perf_counter()
    for ctype, body in bodies:
        conn.request("POST", target, body, {"Content-Type": ctype, "Authorization": auth})
        r = conn.getresponse()
        r.read()
        if r.status not in (200, 201):
            sys.exit(f"upload failed: {r.status}")
        stamps.append(time.perf_counter() - t0)
    windows = []
    for start in range(0, n, 200):
        end = min(start + 200, n)
        began = stamps[start - 1] if start else 0.0
        windows.append(round((end - start) / (stamps[end - 1] - began), 1))
    result = {"uploads": n, "seconds": round(stamps[-1], 2), "rate": round(n / stamps[-1], 1),
              "rate_per_200": windows, "slowest_window": min(windows)}
    json.dump(result, open(out, "w"))
    print(json.dumps(result))


main()
