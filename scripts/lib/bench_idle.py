"""Idle CPU of the local stack (a benchmark, not a test): populate it, then measure it idle.

    bench_idle.py populate API_URL MESSAGES GROUPS UPLOADS
    bench_idle.py sample SECONDS NAME=PID [NAME=PID ...]

`populate` fills a running local stack through its API, as people would: GROUPS groups of
alice, bob and carol, MESSAGES text messages spread over them (4 senders at once), and UPLOADS
small files posted straight to S3 with the presigned form, half completed with `/complete`, half
left to the S3 event (so the uploads queue and the upload-completed path have run too).

`sample` reads each process's CPU time (utime + stime in /proc/PID/stat, in clock ticks) every
10 s for SECONDS, and prints one JSON document: per process, the CPU seconds used and the
percentage of one core, overall and per 10 s window. Nothing else runs meanwhile; that is the
point.
"""

import concurrent.futures
import hashlib
import json
import os
import sys
import time
import uuid

TICK = os.sysconf("SC_CLK_TCK")


def api_call(session, api, method, user, path, body=None):
    for attempt in range(30):
        r = session.request(method, api + path, json=body, headers={"x-dev-user": user}, timeout=60)
        if r.status_code != 503:
            break
        time.sleep(0.05 * (attempt + 1))
    if r.status_code >= 300:
        raise RuntimeError(f"{method} {path} answered {r.status_code}: {r.text[:300]}")
    return r.json() if r.content else None


def populate(api, messages, groups, uploads):
    import requests

    session = requests.Session()
    cids = [api_call(session, api, "POST", "alice", "/conversations",
                     {"title": f"bench-idle {g}", "members": ["bob", "carol"]})["conversation_id"]
            for g in range(groups)]
    senders = ["alice", "bob", "carol"]
    started = time.monotonic()

    def send_range(worker):
        s = requests.Session()
        for i in range(worker, messages, 4):
            api_call(s, api, "POST", senders[i % 3], f"/conversations/{cids[i % groups]}/messages",
                     {"client_msg_id": uuid.uuid4().hex,
                      "text": f"message {i}: see you at the station at ten, bring the tickets"})

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(send_range, range(4)))
    sent_in = time.monotonic() - started
    for u in range(uploads):
        body = os.urandom(64 * 1024)
        cid = cids[u % groups]
        ticket = api_call(session, api, "POST", "alice", f"/conversations/{cid}/uploads",
                          {"client_msg_id": uuid.uuid4().hex, "name": f"photo-{u}.jpg",
                           "size": len(body), "content_type": "image/jpeg",
                           "sha256": hashlib.sha256(body).hexdigest()})
        form = ticket["upload"]
        r = requests.post(form["url"], data=form["fields"], files={"file": (f"photo-{u}.jpg", body)},
                          timeout=60)
        if r.status_code >= 300:
            raise RuntimeError(f"upload answered {r.status_code}: {r.text[:300]}")
        if u % 2 == 0:
            api_call(session, api, "POST", "alice",
                     f"/conversations/{cid}/files/{ticket['file_id']}/complete")
    print(json.dumps({"groups": groups, "messages": messages, "uploads": uploads,
                      "send_seconds": round(sent_in, 1)}))


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # The command name may contain spaces; fields after it are fixed.
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def sample(seconds, procs):
    window = 10.0
    first = {name: cpu_ticks(pid) for name, pid in procs.items()}
    t0 = time.monotonic()
    last, last_t = dict(first), t0
    windows = {name: [] for name in procs}
    while True:
        elapsed = time.monotonic() - t0
        if elapsed >= seconds:
            break
        time.sleep(min(window, seconds - elapsed))
        now = time.monotonic()
        for name, pid in procs.items():
            ticks = cpu_ticks(pid)
            windows[name].append(round(100 * (ticks - last[name]) / TICK / (now - last_t), 2))
            last[name] = ticks
        last_t = now
    wall = last_t - t0
    result = {"seconds": round(wall, 1), "clock_ticks_per_second": TICK, "processes": {}}
    total = 0.0
    for name in procs:
        cpu = (last[name] - first[name]) / TICK
        total += cpu
        result["processes"][name] = {
            "cpu_seconds": round(cpu, 2),
            "percent_of_one_core": round(100 * cpu / wall, 2),
            "percent_per_10s_window": windows[name],
        }
    result["total_percent_of_one_core"] = round(100 * total / wall, 2)
    print(json.dumps(result))


def main():
    if sys.argv[1] == "populate":
        populate(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif sys.argv[1] == "sample":
        procs = dict((arg.split("=", 1)[0], int(arg.split("=", 1)[1])) for arg in sys.argv[3:])
        sample(float(sys.argv[2]), procs)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
