"""Push on the running local stack: delivery latency, and a large group's fan-out (a benchmark,
not a test).

    bench_push.py API_URL SENDS MEMBERS FANOUT_SENDS [API_LOG]

1. Latency. alice sends SENDS text messages one at a time (a pause of BENCH_PAUSE_MS, default 50,
   after each 201) into a group with bob and carol. bob has a WebSocket open; carol polls
   `GET …/messages?after=<newer>` every second (the alternative push replaces). For each send:
   201 -> bob's frame with that seq, and 201 -> the poll that first returned it. Frames missing
   or repeated are counted (both must be 0).
2. Fan-out. A group of MEMBERS members (created with 49 with its owner, the rest added by the owner, several
   additions in flight), every member including the sender with one connection open (the
   sender's from the start, the others' once the building has been pushed: `settled`); the sender
   posts FANOUT_SENDS messages one at a time, each once every connection has the previous one.
   Per send: 201 -> the first frame, 201 -> the last, and whether every connection got it exactly
   once. Baseline in the same run: the same for a 2-member group (sender + 1, both connected).
   With API_LOG (the server's log, RUST_LOG including push_fanout=info), each send's
   `fan-out` log lines are reported too.

Times are CLOCK_MONOTONIC on arrival in this (single, asyncio) client process, so they include
its own reading of the frames. Prints one JSON document. Only loopback; bounded in time.
"""

import asyncio
import concurrent.futures
import json
import os
import re
import sys
import time
import uuid

import requests
import websockets
from websockets.asyncio.client import connect

PAUSE = float(os.environ.get("BENCH_PAUSE_MS", "50")) / 1000
POLL_EVERY = 1.0
ADD_IN_FLIGHT = int(os.environ.get("BENCH_ADD_IN_FLIGHT", "6"))
CONNECT_IN_FLIGHT = int(os.environ.get("BENCH_CONNECT_IN_FLIGHT", "32"))
INITIAL_MEMBERS = 48  # the most `POST /conversations` takes besides its creator (MAX_INITIAL_MEMBERS - 1)
DELIVERY_TIMEOUT = 60.0

pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(ADD_IN_FLIGHT, 16) + 2)
local = __import__("threading").local()


def session():
    if not hasattr(local, "s"):
        local.s = requests.Session()
    return local.s


def http(method, api, user, path, body=None):
    r = session().request(method, api + path, json=body, headers={"x-dev-user": user}, timeout=60)
    at = time.monotonic()  # the answer is read: before the thread hands it back
    return r.status_code, (r.json() if r.content else None), at


async def call(*args):
    """(status, body) of one request, made in a worker thread."""
    status, body, _ = await timed_call(*args)
    return status, body


async def timed_call(*args):
    """(status, body, monotonic time its answer was read)."""
    return await asyncio.get_running_loop().run_in_executor(pool, http, *args)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))] * 1000 if values else None


def summary(delays):
    return {"n": len(delays), "p50_ms": pct(delays, 0.50), "p90_ms": pct(delays, 0.90),
            "p99_ms": pct(delays, 0.99), "max_ms": max(delays) * 1000 if delays else None}


async def send(api, user, cid, text):
    """Posts one message; returns (seq, monotonic time the 201 was read)."""
    for attempt in range(20):
        status, body, at = await timed_call("POST", api, user, f"/conversations/{cid}/messages",
                                            {"client_msg_id": uuid.uuid4().hex, "text": text})
        if status == 201:
            return body["seq"], at
        if status != 503:
            raise RuntimeError(f"send answered {status}: {body}")
        await asyncio.sleep(0.05 * (attempt + 1))
    raise RuntimeError("send kept answering 503")


ARRIVALS = {}  # (conversation id, seq) -> arrival times over every connection
WATCHES = {}  # (conversation id, seq) -> (how many arrivals complete it, event)


class Receiver:
    """One open connection: every frame's (seq, arrival), by conversation."""

    def __init__(self, ws):
        self.ws = ws
        self.frames = {}  # conversation id -> list of (seq, arrival)
        self.other = 0
        self.task = asyncio.create_task(self.read())

    async def read(self):
        try:
            async for raw in self.ws:
                at = time.monotonic()
                frame = json.loads(raw)
                if frame.get("type") != "message":
                    self.other += 1
                    continue
                key = (frame["conversation_id"], frame["message"]["seq"])
                self.frames.setdefault(key[0], []).append((key[1], at))
                times = ARRIVALS.setdefault(key, [])
                times.append(at)
                watch = WATCHES.get(key)
                if watch and len(times) >= watch[0]:
                    watch[1].set()
        except websockets.ConnectionClosed:
            pass

    def arrivals(self, cid, seq):
        return [at for s, at in self.frames.get(cid, ()) if s == seq]

    async def close(self):
        await self.ws.close()
        await self.task


async def open_receivers(api, ws_url, users):
    tokens = await asyncio.gather(*(token(api, u) for u in users))
    gate = asyncio.Semaphore(CONNECT_IN_FLIGHT)

    async def one(t):
        async with gate:
            ws = await connect(f"{ws_url}?token={t}", ping_interval=None, max_queue=None,
                               open_timeout=60)
            return Receiver(ws)

    return await asyncio.gather(*(one(t) for t in tokens))


async def token(api, user):
    status, body = await call("GET", api, "nobody", f"/local/token?user={user}")
    assert status == 200, body
    return body["token"]


async def wait_for(receivers, cid, seq, timeout=DELIVERY_TIMEOUT):
    """Until as many frames of `seq` arrived as there are receivers (or timeout); then True if
    every receiver has it."""
    key = (cid, seq)
    event = asyncio.Event()
    WATCHES[key] = (len(receivers), event)
    if len(ARRIVALS.get(key, ())) >= len(receivers):
        event.set()
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except asyncio.TimeoutError:
        pass
    finally:
        del WATCHES[key]
    return all(r.arrivals(cid, seq) for r in receivers)


async def settled(api, probe, user, cid, timeout=600):
    """Until every message of the group so far has reached `probe`, a connection of `user` (a
    member) opened before the group was created, so each is pushed to it, in order. Receivers
    connect only then: API Gateway answers a post to a connection whose `$connect` has not
    returned with 410 Gone (the local stack too), and the fan-out then forgets the connection,
    so a push still running while a receiver connects could lose that receiver."""
    status, page = await call("GET", api, user, f"/conversations/{cid}/messages?limit=1")
    assert status == 200, page
    last = max(m["seq"] for m in page["messages"])
    assert await wait_for([probe], cid, last, timeout), "the group's pushes did not settle"


async def create_group(api, owner, members, title="bench-push"):
    status, body = await call("POST", api, owner, "/conversations",
                              {"title": title, "members": members[:INITIAL_MEMBERS]})
    assert status == 201, body
    cid = body["conversation_id"]
    rest = members[INITIAL_MEMBERS:]
    gate = asyncio.Semaphore(ADD_IN_FLIGHT)
    retries = 0

    async def add(user):
        nonlocal retries
        async with gate:
            for attempt in range(30):
                status, body = await call("POST", api, owner, f"/conversations/{cid}/members",
                                          {"user_id": user})
                if status in (200, 201):
                    return
                if status != 503:
                    raise RuntimeError(f"adding {user} answered {status}: {body}")
                retries += 1
                await asyncio.sleep(0.05 * (attempt + 1))
            raise RuntimeError(f"adding {user} kept answering 503")

    await asyncio.gather(*(add(u) for u in rest))
    return cid, retries


def log_lines_since(path, offset):
    if not path:
        return [], offset
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    text = re.sub(r"\x1b\[[0-9;]*m", "", data.decode("utf-8", "replace"))
    lines = [line.split("fan-out", 1)[1].strip() for line in text.splitlines() if " fan-out" in line]
    return lines, offset + len(data)


def log_size(path):
    return os.path.getsize(path) if path else 0


# --- 1. latency: push vs a 1 s poll ------------------------------------------------------------

async def latency(api, ws_url, sends):
    (probe,) = await open_receivers(api, ws_url, ["alice"])
    status, body = await call("POST", api, "alice", "/conversations",
                              {"title": "bench-push latency", "members": ["bob", "carol"]})
    assert status == 201, body
    cid = body["conversation_id"]
    # The group's creation is pushed before bob connects (see `settled`).
    await settled(api, probe, "alice", cid)
    await probe.close()
    (bob,) = await open_receivers(api, ws_url, ["bob"])
    # A first send, not measured: the pump is past the group's creation once bob has it.
    warm_seq, _ = await send(api, "alice", cid, "warm-up")
    assert await wait_for([bob], cid, warm_seq, 10), "no frame for the warm-up send"

    status, page = await call("GET", api, "carol", f"/conversations/{cid}/messages?limit=1000")
    assert status == 200, page
    cursor = page["newer"]
    polled = {}  # seq -> monotonic time of the poll answer that first had it
    polls = 0
    stop = asyncio.Event()

    async def poller():
        nonlocal cursor, polls
        next_at = time.monotonic()
        while True:
            status, page, at = await timed_call(
                "GET", api, "carol", f"/conversations/{cid}/messages?limit=1000&after={cursor}")
            polls += 1
            assert status == 200, page
            for m in page["messages"]:
                polled.setdefault(m["seq"], at)
            cursor = page["newer"] or cursor
            if stop.is_set():
                return
            next_at += POLL_EVERY
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    poll_task = asyncio.create_task(poller())
    sent = {}  # seq -> 201 time
    started = time.monotonic()
    for i in range(sends):
        seq, at = await send(api, "alice", cid, f"latency {i}")
        sent[seq] = at
        await asyncio.sleep(PAUSE)
    elapsed = time.monotonic() - started
    # Everything sent is pushed within well under this, and polled within two polls.
    await wait_for([bob], cid, max(sent), 10)
    await asyncio.sleep(2.5)
    stop.set()
    await poll_task
    await bob.close()

    frames = [(s, at) for s, at in bob.frames.get(cid, ()) if s != warm_seq and s > warm_seq]
    counts = {}
    for s, _ in frames:
        counts[s] = counts.get(s, 0) + 1
    push_delays = [min(bob.arrivals(cid, s)) - t for s, t in sent.items() if s in counts]
    poll_delays = [polled[s] - t for s, t in sent.items() if s in polled]
    push = summary(push_delays)
    poll = summary(poll_delays)
    return {
        "sends": len(sent),
        "send_seconds": elapsed,
        "pause_after_each_ms": PAUSE * 1000,
        "push": {**push,
                 "missing": sum(1 for s in sent if s not in counts),
                 "duplicated": sum(c - 1 for c in counts.values() if c > 1),
                 "unexpected_seqs": sum(1 for s in counts if s not in sent),
                 "negative_delays": sum(1 for d in push_delays if d < 0)},
        "poll_every_1s": {**poll, "missing": sum(1 for s in sent if s not in polled),
                          "polls": polls},
        "ratio_push_to_poll": {k: push[k] / poll[k] for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")
                               if push[k] and poll[k]},
    }


# --- 2. fan-out: MEMBERS connections vs 2 ------------------------------------------------------

async def fanout(api, ws_url, members, sends, api_log, label):
    sender = f"{label}-owner"
    users = [sender] + [f"{label}-m{i:05d}" for i in range(members - 1)]
    # The sender's connection first: the others connect once the group's building is pushed.
    (sender_rx,) = await open_receivers(api, ws_url, [sender])
    t0 = time.monotonic()
    cid, add_retries = await create_group(api, sender, users[1:])
    built = time.monotonic() - t0
    await settled(api, sender_rx, sender, cid)
    t0 = time.monotonic()
    others = await open_receivers(api, ws_url, users[1:])
    opened = time.monotonic() - t0
    receivers = [sender_rx] + others
    # Not measured: a first send to every connection.
    warm_seq, _ = await send(api, sender, cid, "warm-up")
    assert await wait_for(receivers, cid, warm_seq, 120), "the warm-up did not reach everyone"
    await asyncio.sleep(0.5)
    offset = log_size(api_log)
    rows = []
    for i in range(sends):
        seq, t201 = await send(api, sender, cid, f"fan-out {i}")
        complete = await wait_for(receivers, cid, seq)
        arrivals = list(ARRIVALS.get((cid, seq), ()))
        got = sum(1 for r in receivers if r.arrivals(cid, seq))
        await asyncio.sleep(0.3)  # lets the fan-out's log line land
        lines, offset = log_lines_since(api_log, offset)
        rows.append({
            "seq": seq,
            "first_ms": (min(arrivals) - t201) * 1000 if arrivals else None,
            "last_ms": (max(arrivals) - t201) * 1000 if arrivals else None,
            "connections_with_it": got,
            "complete": complete,
            "server_log": lines,
        })
    await asyncio.sleep(2.0)  # room for a late duplicate
    measured = {row["seq"] for row in rows}
    duplicated = sum(max(0, sum(1 for s, _ in r.frames.get(cid, ()) if s == seq) - 1)
                     for r in receivers for seq in measured)
    stale = sum(1 for r in others for s, _ in r.frames.get(cid, ()) if s < warm_seq)
    await asyncio.gather(*(r.close() for r in receivers))
    firsts = [row["first_ms"] for row in rows if row["first_ms"] is not None]
    lasts = [row["last_ms"] for row in rows if row["last_ms"] is not None]
    return {
        "members": members,
        "connections": len(receivers),
        "build_group_seconds": built,
        "add_member_503_retries": add_retries,
        "open_connections_seconds": opened,
        "sends": rows,
        "first_frame_median_ms": sorted(firsts)[len(firsts) // 2] if firsts else None,
        "last_frame_median_ms": sorted(lasts)[len(lasts) // 2] if lasts else None,
        "all_received_exactly_once": all(row["connections_with_it"] == members for row in rows)
        and duplicated == 0,
        "duplicated_frames": duplicated,
        "frames_of_earlier_history": stale,
    }


async def main():
    api, sends, members, fanout_sends = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    api_log = sys.argv[5] if len(sys.argv) > 5 else None
    ws_url = api.replace("http://", "ws://", 1) + "/ws"
    result = {"latency": await latency(api, ws_url, sends)}
    print("latency done", file=sys.stderr)
    baseline = await fanout(api, ws_url, 2, fanout_sends, api_log, "pair")
    print("2-member fan-out done", file=sys.stderr)
    large = await fanout(api, ws_url, members, fanout_sends, api_log, "big")
    result["fanout_baseline_2_members"] = baseline
    result["fanout_large"] = large
    if baseline["last_frame_median_ms"] and large["last_frame_median_ms"]:
        result["ratio_large_to_2_members"] = {
            "first_frame": large["first_frame_median_ms"] / baseline["first_frame_median_ms"],
            "last_frame": large["last_frame_median_ms"] / baseline["last_frame_median_ms"],
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
