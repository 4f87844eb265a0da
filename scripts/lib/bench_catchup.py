"""A new device catching up on a big group, against the running local stack (a benchmark).

    bench_catchup.py API_URL AWS_URL MESSAGES FILES

Seeds one group with MESSAGES messages, FILES of them file messages, straight into the local
tables in the stored layout (sending 10,000 messages through the API would measure the sends),
then lets a new device page the whole history back from the newest page, asking batch file info
for the files of each page, twice in one run:

* "before": the settings of 2026-11-26: pages of 100, no Accept-Encoding;
* "after": the largest history page the API allows (`/config` max_history_page_limit), gzip.

Reports requests, bytes on the wire (response bodies as received) and time for each, and the
ratios. Only loopback; bounded by the data.
"""

import json
import sys
import time
import uuid

import boto3
import requests

PREFIX = "groupshare-local"


def seed(aws, messages, files):
    kw = dict(endpoint_url=aws, region_name="us-east-1",
              aws_access_key_id="local", aws_secret_access_key="local")
    ddb = boto3.resource("dynamodb", **kw)
    tables = {t.name.split(PREFIX + "-", 1)[1]: t for t in ddb.tables.all() if t.name.startswith(PREFIX)}
    conversations, members = tables["ConversationsTable"], tables["MembersTable"]
    msgs, file_table = tables["MessagesTable"], tables["FilesTable"]
    cid = "catchup-" + uuid.uuid4().hex[:8]
    now = int(time.time() * 1000)
    conversations.put_item(Item={"conversation_id": cid, "title": "Big group", "created_by": "alice",
                                 "created_at": now, "last_seq": messages, "owner_count": 1})
    for user, role in (("alice", "owner"), ("bob", "member")):
        members.put_item(Item={"conversation_id": cid, "user_id": user, "role": role, "joined_at": now})
    every = max(1, messages // max(1, files))
    with msgs.batch_writer() as mw, file_table.batch_writer() as fw:
        for seq in range(1, messages + 1):
            item = {"conversation_id": cid, "seq": seq, "message_id": uuid.uuid4().hex,
                    "sender": "alice", "sent_at": now + seq}
            if seq % every == 0 and seq // every <= files:
                fid = f"f{seq:06d}"
                item.update(kind="file", file_id=fid, file_name=f"photo-{seq}.jpg",
                            file_size=123456, file_content_type="image/jpeg")
                fw.put_item(Item={"file_id": fid, "conversation_id": cid, "name": f"photo-{seq}.jpg",
                                  "size": 123456, "content_type": "image/jpeg", "uploader": "alice",
                                  "uploaded_at": now + seq, "status": "available",
                                  "s3_key": f"files/{cid}/{fid}", "message_seq": seq})
            else:
                item.update(kind="text", text=f"Message {seq}: see you at the station at ten, bring the tickets")
            mw.put_item(Item=item)
    return cid


def catch_up(api, cid, limit, gzip):
    s = requests.Session()
    headers = {"x-dev-user": "bob", "accept-encoding": "gzip" if gzip else "identity"}
    requests_made = wire_bytes = 0
    seen = 0
    started = time.perf_counter()

    def fetch(url):
        nonlocal requests_made, wire_bytes
        r = s.get(url, headers=headers, stream=True, timeout=60)
        raw = r.raw.read(decode_content=False)
        requests_made += 1
        wire_bytes += len(raw)
        if r.headers.get("content-encoding") == "gzip":
            import gzip as gz
            raw = gz.decompress(raw)
        assert r.status_code == 200, raw[:200]
        return json.loads(raw)

    url = f"{api}/conversations/{cid}/messages?limit={limit}"
    while True:
        page = fetch(url)
        seen += len(page["messages"])
        ids = [m["file"]["file_id"] for m in page["messages"] if m["kind"] == "file"]
        for i in range(0, len(ids), 100):
            info = fetch(f"{api}/conversations/{cid}/files?ids={','.join(ids[i:i + 100])}")
            assert not info["missing"], info["missing"]
        if not page["older"]:
            break
        url = f"{api}/conversations/{cid}/messages?limit={limit}&before={page['older']}"
    return {"messages": seen, "requests": requests_made, "wire_bytes": wire_bytes,
            "seconds": round(time.perf_counter() - started, 2)}


def main():
    api, aws, messages, files = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    cid = seed(aws, messages, files)
    limits = requests.get(f"{api}/config", headers={"x-dev-user": "bob"}, timeout=10).json()
    biggest = limits.get("max_history_page_limit", limits["max_page_limit"])
    before = catch_up(api, cid, 100, gzip=False)
    after = catch_up(api, cid, biggest, gzip=True)
    assert before["messages"] == after["messages"] == messages
    print(json.dumps({
        "messages": messages, "file_messages": files,
        "before (limit 100, no gzip)": before,
        f"after (limit {biggest}, gzip)": after,
        "requests_ratio": round(after["requests"] / before["requests"], 3),
        "bytes_ratio": round(after["wire_bytes"] / before["wire_bytes"], 3),
        "time_ratio": round(after["seconds"] / before["seconds"], 3),
    }, indent=2))


if __name__ == "__main__":
    main()
