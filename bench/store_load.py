#!/usr/bin/env python3
"""Admin API writers and console readers against a running Gatehouse, for bench/store.sh.

Writers POST new gateway services through the Admin API as fast as they are answered; readers
sign in to the console and fetch a page again and again. Prints one line of JSON: writes/s,
write errors, page latency percentiles (ms) and page errors. Standard library only.
"""
import http.client
import json
import re
import sys
import threading
import time
import urllib.parse
import uuid


def percentile(sorted_ms, p):
    if not sorted_ms:
        return None
    k = min(len(sorted_ms) - 1, int(round(p / 100.0 * (len(sorted_ms) - 1))))
    return round(sorted_ms[k], 2)


def writer(admin, token, deadline, out):
    conn = http.client.HTTPConnection(*admin, timeout=30)
    ok = err = 0
    while time.time() < deadline:
        body = json.dumps({"name": "b" + uuid.uuid4().hex[:16], "url": "http://127.0.0.1:9/x"})
        try:
            conn.request("POST", "/services", body,
                         {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            if r.status == 201:
                ok += 1
            else:
                err += 1
        except Exception:
            err += 1
            conn = http.client.HTTPConnection(*admin, timeout=30)
    out.append((ok, err))


def login(console, email, password):
    conn = http.client.HTTPConnection(*console, timeout=30)
    conn.request("GET", "/login")
    r = conn.getresponse()
    html = r.read().decode()
    cookie = r.getheader("Set-Cookie", "").split(";")[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    form = urllib.parse.urlencode({"csrf_token": token, "email": email, "password": password})
    conn.request("POST", "/login", form,
                 {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    r = conn.getresponse()
    r.read()
    return conn, (r.getheader("Set-Cookie", "") or cookie).split(";")[0]


def reader(console, email, password, page, deadline, out):
    conn, cookie = login(console, email, password)
    lat, errors = [], 0
    while time.time() < deadline:
        t0 = time.perf_counter()
        try:
            conn.request("GET", page, headers={"Cookie": cookie})
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                errors += 1
        except Exception:
            errors += 1
            conn = http.client.HTTPConnection(*console, timeout=30)
            continue
        lat.append((time.perf_counter() - t0) * 1000)
    out.append((lat, errors))


def main():
    admin, console = sys.argv[1], sys.argv[2]
    token, email, password = sys.argv[3], sys.argv[4], sys.argv[5]
    seconds, writers, readers = float(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
    page = sys.argv[9] if len(sys.argv) > 9 else "/services"
    hp = lambda s: (s.split(":")[0], int(s.split(":")[1]))
    deadline = time.time() + seconds
    wout, rout, threads = [], [], []
    for _ in range(writers):
        threads.append(threading.Thread(target=writer, args=(hp(admin), token, deadline, wout)))
    for _ in range(readers):
        threads.append(threading.Thread(
            target=reader, args=(hp(console), email, password, page, deadline, rout)))
    start = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - start
    lat = sorted(x for l, _ in rout for x in l)
    print(json.dumps({
        "writes_per_s": round(sum(o for o, _ in wout) / elapsed, 1),
        "write_errors": sum(e for _, e in wout),
        "page_p50_ms": percentile(lat, 50),
        "page_p99_ms": percentile(lat, 99),
        "page_max_ms": round(lat[-1], 2) if lat else None,
        "pages": len(lat),
        "page_errors": sum(e for _, e in rout),
    }))


if __name__ == "__main__":
    main()
