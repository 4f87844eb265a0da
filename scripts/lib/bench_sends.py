"""Sustained sends into one group, against the running local stack (a benchmark, not a test).

    bench_sends.py API_URL SENDERS SECONDS

SENDERS clients post text messages back to back into ONE group for SECONDS, then the same
number of clients post into one group EACH (no contention on a counter) for the same time, as
the baseline measured in the same run. Reports per phase: successful sends per second, latency
p50/p99/max, non-2xx answers by status, and whether the group's history is gap-free (1..=N).
Only loopback; bounded in time.
"""

import json
import sys
import threading
import time
import uuid

import requests


def post(session, api, user, path, body):
    r = session.post(api + path, json=body, headers={"x-dev-user": user}, timeout=30)
    return r.status_code, (r.json() if r.content else None)


def group(api, owner, members):
    s = requests.Session()
    status, body = post(s, api, owner, "/conversations", {"title": "bench", "members": members})
    assert status == 201, body
    return body["conversation_id"]


def history_seqs(api, user, cid):
    s = requests.Session()
    seqs, url = [], f"{api}/conversations/{cid}/messages?limit=100"
    while True:
        page = s.get(url, headers={"x-dev-user": user}, timeout=30).json()
        seqs.extend(m["seq"] for m in page["messages"])
        if not page["older"]:
            return sorted(seqs)
        url = f"{api}/conversations/{cid}/messages?limit=100&before={page['older']}"


def run_phase(api, senders, seconds, groups):
    """groups[i] is the conversation sender i posts into."""
    latencies, statuses, lock = [], {}, threading.Lock()
    deadline = time.monotonic() + seconds

    def sender(i):
        s = requests.Session()
        user = f"user{i}"
        mine, counts = [], {}
        while time.monotonic() < deadline:
            started = time.monotonic()
            status, _ = post(s, api, user, f"/conversations/{groups[i]}/messages",
                             {"client_msg_id": uuid.uuid4().hex, "text": "bench"})
            took = time.monotonic() - started
            counts[status] = counts.get(status, 0) + 1
            if status == 201:
                mine.append(took)
        with lock:
            latencies.extend(mine)
            for k, v in counts.items():
                statuses[k] = statuses.get(k, 0) + v

    started = time.monotonic()
    threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0

    return {
        "sends_per_second": len(latencies) / elapsed,
        "sent": len(latencies),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else 0.0,
        "statuses": statuses,
    }


def main():
    api, senders, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    users = [f"user{i}" for i in range(senders)]
    shared_group = group(api, "owner", users)
    contended = run_phase(api, senders, seconds, [shared_group] * senders)
    seqs = history_seqs(api, "owner", shared_group)
    contended["gap_free"] = seqs == list(range(1, len(seqs) + 1))
    contended["history_messages"] = len(seqs)
    own_groups = [group(api, u, []) for u in users]
    baseline = run_phase(api, senders, seconds, own_groups)
    print(json.dumps({"senders": senders, "seconds": seconds,
                      "one_group": contended, "one_group_each": baseline,
                      "ratio_one_group_to_baseline": contended["sends_per_second"] / baseline["sends_per_second"]},
                     indent=2))


if __name__ == "__main__":
    main()
