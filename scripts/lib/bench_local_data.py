"""Request cost through the local stack, with and without data the request does not read.

    bench_local_data.py seed AWS OTHERS OBJECTS
    bench_local_data.py measure ALONE_API ALONE_AWS CROWDED_API CROWDED_AWS ROUNDS

Run by scripts/bench-local-data, which starts two local stacks, each on its own moto, and seeds
each before it serves. Both get the same 1,000-message group (100 of them files, each with its
object) in the stored layout; the crowded one also gets OTHERS messages and OTHERS files in
1,000 other groups and OBJECTS other objects. Then, round after round, each request runs on both stacks in turn (order
alternating), and beside it the bare stand-in call it stands for, on the same moto (boto3: one
Query or BatchGetItem of the same items). Timed client-side over loopback. Prints a table for
docs/performance.md; asserts only that the requests answer what was seeded.
"""

import statistics
import sys
import time
import uuid

import boto3
import requests
from botocore.config import Config

PREFIX = "groupshare-local"
GROUP_MESSAGES, GROUP_FILES, PAGE = 1000, 100, 50
TEXT = "A message of about a hundred characters, as people write them in a group chat today."


def clients(aws):
    kw = dict(endpoint_url=aws, region_name="us-east-1", aws_access_key_id="local",
              aws_secret_access_key="local",
              config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))
    return boto3.client("dynamodb", **kw), boto3.resource("dynamodb", **kw), boto3.client("s3", **kw)


def tables(resource):
    return {t.name.split(PREFIX + "-", 1)[1]: t for t in resource.tables.all()
            if t.name.startswith(PREFIX)}


def seed_group(resource, s3, bucket, cid, messages, files, now):
    t = tables(resource)
    t["ConversationsTable"].put_item(Item={
        "conversation_id": cid, "title": cid, "created_by": "alice", "created_at": now,
        "last_seq": messages, "owner_count": 1, "member_count": 2})
    for user, role in (("alice", "owner"), ("bob", "member")):
        t["MembersTable"].put_item(Item={"conversation_id": cid, "user_id": user, "role": role,
                                         "joined_at": now})
    every = messages // files if files else messages + 1
    ids = []
    with t["MessagesTable"].batch_writer() as mw, t["FilesTable"].batch_writer() as fw:
        for seq in range(1, messages + 1):
            item = {"conversation_id": cid, "seq": seq, "message_id": uuid.uuid4().hex,
                    "sender": "alice", "sent_at": now + seq}
            if files and seq % every == 0:
                fid = f"{cid}-f{seq:06d}"
                key = f"files/r0/{cid}/{fid}"
                ids.append(fid)
                item.update(kind="file", file_id=fid, file_name=f"photo-{seq}.jpg",
                            file_size=1000, file_content_type="image/jpeg")
                fw.put_item(Item={"file_id": fid, "conversation_id": cid, "name": f"photo-{seq}.jpg",
                                  "size": 1000, "content_type": "image/jpeg", "uploader": "alice",
                                  "uploaded_at": now + seq, "status": "available", "s3_key": key,
                                  "message_seq": seq})
                if s3 is not None:
                    s3.put_object(Bucket=bucket, Key=key, Body=b"x" * 1000)
            else:
                item.update(kind="text", text=TEXT)
            mw.put_item(Item=item)
    return ids


def crowd(resource, s3, bucket, others, objects, now):
    """OTHERS messages and OTHERS files in 1,000 other groups, and OBJECTS other objects."""
    t = tables(resource)
    per_group = max(1, others // 1000)
    with t["MessagesTable"].batch_writer() as mw, t["FilesTable"].batch_writer() as fw:
        for i in range(others):
            cid, seq = f"other-{i % 1000:04d}", i // 1000 + 1
            mw.put_item(Item={"conversation_id": cid, "seq": seq, "message_id": uuid.uuid4().hex,
                              "sender": "carol", "sent_at": now + seq, "kind": "text", "text": TEXT})
            fw.put_item(Item={"file_id": f"{cid}-f{seq:06d}", "conversation_id": cid,
                              "name": f"scan-{seq}.pdf", "size": 1000,
                              "content_type": "application/pdf", "uploader": "carol",
                              "uploaded_at": now + seq, "status": "available",
                              "s3_key": f"files/r0/{cid}/{cid}-f{seq:06d}", "message_seq": seq})
    for n in range(objects):
        s3.put_object(Bucket=bucket, Key=f"files/r0/other-{n % 1000:04d}/obj-{n:06d}", Body=b"y" * 1000)
    return per_group


class Stack:
    def __init__(self, name, api, aws):
        self.name, self.api = name, api
        self.ddb, self.resource, self.s3 = clients(aws)
        self.http = requests.Session()
        self.http.headers.update({"x-dev-user": "bob", "accept-encoding": "gzip"})
        self.bucket = next(b["Name"] for b in self.s3.list_buckets()["Buckets"])
        self.t = tables(self.resource)

    def get(self, path):
        r = self.http.get(self.api + path, timeout=60)
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
        return r.json()


def operations(stack, cid, ids):
    """name -> (request through the stack, the bare stand-in call(s) it makes)."""
    messages = stack.t["MessagesTable"].name
    files = stack.t["FilesTable"].name
    # A catch-up position: the cursor after seq 100, as a device that has read that far holds.
    older = stack.get(f"/conversations/{cid}/messages?limit={GROUP_MESSAGES - 100}")["older"]
    after_100 = stack.get(f"/conversations/{cid}/messages?limit={PAGE}&before={older}")["newer"]
    batch = ids[:PAGE]

    def newest():
        page = stack.get(f"/conversations/{cid}/messages?limit={PAGE}")
        assert page["messages"][-1]["seq"] == GROUP_MESSAGES

    def catch_up():
        page = stack.get(f"/conversations/{cid}/messages?limit={PAGE}&after={after_100}")
        assert page["messages"][0]["seq"] == 101

    def file_info():
        got = stack.get(f"/conversations/{cid}/files?ids={','.join(batch)}")
        assert len(got["files"]) == len(batch), got.get("missing")

    def file_list():
        assert len(stack.get(f"/conversations/{cid}/files?limit={PAGE}")["files"]) == PAGE

    c = {":c": {"S": cid}}
    return {
        "newest page (50)": (newest, lambda: stack.ddb.query(
            TableName=messages, KeyConditionExpression="conversation_id = :c", Limit=PAGE,
            ScanIndexForward=False, ExpressionAttributeValues=c, ConsistentRead=True)),
        "catch-up page (50 after seq 100)": (catch_up, lambda: stack.ddb.query(
            TableName=messages, KeyConditionExpression="conversation_id = :c AND seq > :s",
            Limit=PAGE, ExpressionAttributeValues={**c, ":s": {"N": "100"}}, ConsistentRead=True)),
        "batch file info (50 ids)": (file_info, lambda: stack.ddb.batch_get_item(RequestItems={
            files: {"Keys": [{"file_id": {"S": f}} for f in batch], "ConsistentRead": True}})),
        "group's files (newest 50)": (file_list, lambda: stack.ddb.query(
            TableName=files, IndexName="by-conversation", KeyConditionExpression="conversation_id = :c",
            Limit=PAGE, ScanIndexForward=False, ExpressionAttributeValues=c)),
        "ListObjectVersions of one file (a deletion's purge)": (None, lambda: stack.s3.list_object_versions(
            Bucket=stack.bucket, Prefix=f"files/r0/{cid}/{ids[0]}")),
    }


CID = "bench-group"
NOW = 1765000000000


def seed(aws, others, objects):
    _, resource, s3 = clients(aws)
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"])
    started = time.monotonic()
    seed_group(resource, s3, bucket, CID, GROUP_MESSAGES, GROUP_FILES, NOW)
    crowd(resource, s3, bucket, others, objects, NOW)
    print(f"seeded in {time.monotonic() - started:.0f} s: the group, {others:,} messages and "
          f"{others:,} files in 1,000 other groups, {objects:,} other objects")


def measure(alone_api, alone_aws, crowded_api, crowded_aws, rounds):
    stacks = [Stack("alone", alone_api, alone_aws), Stack("crowded", crowded_api, crowded_aws)]
    every = GROUP_MESSAGES // GROUP_FILES
    ids = [f"{CID}-f{seq:06d}" for seq in range(every, GROUP_MESSAGES + 1, every)]
    cid = CID
    ops = {s.name: operations(s, cid, ids) for s in stacks}
    names = list(ops["alone"])
    times = {(n, s.name, part): [] for n in names for s in stacks for part in (0, 1)}
    for _ in range(3):  # warm-up: connections, lazily built indexes
        for n in names:
            for s in stacks:
                for part in (0, 1):
                    if ops[s.name][n][part]:
                        ops[s.name][n][part]()
    for r in range(rounds):
        for n in names:
            order = stacks if r % 2 else stacks[::-1]
            for s in order:
                for part in (0, 1) if r % 2 else (1, 0):
                    call = ops[s.name][n][part]
                    if call is None:
                        continue
                    t0 = time.perf_counter()
                    call()
                    times[(n, s.name, part)].append(time.perf_counter() - t0)

    med = lambda k: statistics.median(times[k]) * 1000 if times[k] else None
    print(f"\n{rounds} rounds; medians in ms\n")
    print("| request | through the stack: alone | crowded | crowded / alone | bare stand-in call: alone "
          "| crowded | stack / bare (alone) | stack / bare (crowded) |")
    print("|---|---|---|---|---|---|---|---|")
    for n in names:
        sa, sc, ba, bc = (med((n, s, p)) for p in (0, 1) for s in ("alone", "crowded"))
        fmt = lambda v: "–" if v is None else f"{v:.1f}"
        ratio = lambda a, b: "–" if a is None or b is None else f"{a / b:.2f}x"
        print(f"| {n} | {fmt(sa)} | {fmt(sc)} | {ratio(sc, sa)} | {fmt(ba)} | {fmt(bc)} | "
              f"{ratio(sa, ba)} | {ratio(sc, bc)} |")


if __name__ == "__main__":
    if sys.argv[1] == "seed":
        seed(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        measure(*sys.argv[2:6], int(sys.argv[6]))
