"""Parallel upload client for the bench scripts: uploads every file named in
LIST, one file per /addpkg request, from CLIENTS threads, each over its own
keep-alive connection, and prints the rate per window of WINDOW uploads and
the median and 90th percentile of the requests' round trips.

    python3 upload_client.py URL TOKEN LIST CLIENTS WINDOW OUT.json

URL is the /addpkg URL with its query (provider, reponame, ...). Bodies are
built before the clock starts, so the client costs little CPU while timed.
"""
import http.client, json, os, sys, threading, time, urllib.parse, uuid


def form(path):
    bnd = uuid.uuid4().hex
    name = os.path.basename(path)
    with open(path, "rb") as f:
        content = f.read()
    head = (f'--{bnd}\r\nContent-Disposition: form-data; name="f"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return f"multipart/form-data; boundary={bnd}", head + content + f"\r\n--{bnd}--\r\n".encode()


def main():
    url, token, listing, clients, window, out = sys.argv[1:7]
    clients, window = int(clients), int(window)
    u = urllib.parse.urlsplit(url)
    target = u.path + (f"?{u.query}" if u.query else "")
    paths = [p for p in open(listing).read().split("\n") if p]
    bodies = [form(p) for p in paths]
    stamps, failures, latencies = [], [], []
    lock = threading.Lock()
    next_index = [0]

    def worker():
        conn = http.client.HTTPConnection(u.hostname, u.port)
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= len(bodies):
                return
            ctype, body = bodies[i]
            began = time.perf_counter()
            conn.request("POST", target, body, {"Content-Type": ctype, "Authorization": f"Bearer {token}"})
            r = conn.getresponse()
            text = r.read()
            with lock:
                if r.status not in (200, 201):
                    failures.append(f"{paths[i]}: {r.status} {text[:200]!r}")
                now = time.perf_counter()
                stamps.append(now - t0)
                latencies.append((now - began) * 1000)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        sys.exit("uploads failed:\n" + "\n".join(failures[:10]))
    stamps.sort()
    n = len(stamps)
    windows = []
    for start in range(0, n, window):
        end = min(start + window, n)
        began = stamps[start - 1] if start else 0.0
        windows.append(round((end - start) / (stamps[end - 1] - began), 1))
    latencies.sort()
    result = {"uploads": n, "seconds": round(stamps[-1], 2), "rate": round(n / stamps[-1], 1),
              "rate_per_window": windows, "slowest_window": min(windows),
              "latency_ms_median": round(latencies[n // 2], 1),
              "latency_ms_p90": round(latencies[min(n - 1, n * 9 // 10)], 1)}
    json.dump(result, open(out, "w"))
    print(json.dumps(result))


main()
