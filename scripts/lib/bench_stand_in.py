"""Does the local stand-in's cost grow with data that a request does not read?

Run: scripts/bench-stand-in [--others 100000] [--objects 10000] [--rounds 200] [--unpatched]

moto_server.py's app (serialised, patched as the local stack runs it; --unpatched: moto as
shipped) runs in this process. Each operation is run on two copies of the same small group's
data, side by side in the same rounds: one alone in its table or bucket ("alone"), one sharing
it with --others items in 1,000 other groups (messages and files tables) or --objects other
objects ("crowded"). The crowds are written straight into moto's backend, not over HTTP.
Timed client-side (boto3 over loopback), so a ratio near 1 means the crowd costs nothing.
A benchmark, not a test: it prints figures and asserts nothing.
"""

import argparse
import logging
import os
import statistics
import sys
import threading
import time

import boto3
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

ACCOUNT, REGION = "123456789012", "us-east-1"
GROUP = "g-small"
MESSAGES, FILES, BUCKET_OBJECTS = 200, 100, 20


def message(conversation, seq):
    return {"conversation_id": {"S": conversation}, "seq": {"N": str(seq)},
            "author_id": {"S": "user-0123456789abcdef"}, "kind": {"S": "text"},
            "client_msg_id": {"S": f"{seq:032x}"}, "created_at": {"N": str(1765000000000 + seq)},
            "text": {"S": "A message of about a hundred characters, as people write them in a group chat."}}


def file_item(conversation, n):
    return {"file_id": {"S": f"{conversation}-f{n:05d}"}, "conversation_id": {"S": conversation},
            "uploaded_at": {"N": str(1765000000000 + n)}, "size": {"N": "123456"},
            "name": {"S": f"photo-{n}.jpg"}, "content_type": {"S": "image/jpeg"},
            "sha256": {"S": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}, "state": {"S": "complete"}}


def start_server(unpatched):
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    import moto_patches
    import moto_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    installed = moto_patches.install(off="all" if unpatched else "")
    server = make_server("127.0.0.1", 0, moto_server.serialized, threaded=True,
                         request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", installed


def create_tables(ddb, suffix):
    ddb.create_table(
        TableName=f"messages-{suffix}", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "conversation_id", "AttributeType": "S"},
                              {"AttributeName": "seq", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "conversation_id", "KeyType": "HASH"},
                   {"AttributeName": "seq", "KeyType": "RANGE"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    ddb.create_table(
        TableName=f"files-{suffix}", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t in
                              (("file_id", "S"), ("conversation_id", "S"), ("uploaded_at", "N"))],
        KeySchema=[{"AttributeName": "file_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-conversation", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "conversation_id", "KeyType": "HASH"},
                                               {"AttributeName": "uploaded_at", "KeyType": "RANGE"}]}])


def operations(ddb, s3, suffix):
    """name -> a call doing what one API request asks of the stand-in."""
    messages, files, bucket = f"messages-{suffix}", f"files-{suffix}", f"bucket-{suffix}"
    keys = [{"file_id": {"S": f"{GROUP}-f{n:05d}"}} for n in range(FILES)]
    sends = iter(range(10_000_000, 20_000_000))

    def send():
        seq = next(sends)
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": messages, "Key": {"conversation_id": {"S": "g-send"}, "seq": {"N": "0"}},
                        "UpdateExpression": "SET last_seq = :s", "ExpressionAttributeValues": {":s": {"N": str(seq)}}}},
            {"Put": {"TableName": messages, "Item": message("g-send", seq),
                     "ConditionExpression": "attribute_not_exists(seq)"}}])

    return {
        "newest page (Query, 50, newest first)": lambda: ddb.query(
            TableName=messages, KeyConditionExpression="conversation_id = :c", Limit=50,
            ScanIndexForward=False, ExpressionAttributeValues={":c": {"S": GROUP}}),
        "catch-up page (Query, 50 after seq 100)": lambda: ddb.query(
            TableName=messages, KeyConditionExpression="conversation_id = :c AND seq > :s", Limit=50,
            ExpressionAttributeValues={":c": {"S": GROUP}, ":s": {"N": "100"}}),
        "batch file info (BatchGetItem, 100)": lambda: ddb.batch_get_item(
            RequestItems={files: {"Keys": keys, "ConsistentRead": True}}),
        "group's files (Query on the GSI, 50)": lambda: ddb.query(
            TableName=files, IndexName="by-conversation", KeyConditionExpression="conversation_id = :c",
            Limit=50, ScanIndexForward=False, ExpressionAttributeValues={":c": {"S": GROUP}}),
        "GetItem": lambda: ddb.get_item(
            TableName=messages, Key={"conversation_id": {"S": GROUP}, "seq": {"N": "7"}}, ConsistentRead=True),
        "send (TransactWriteItems, 2 parts)": send,
        "ListObjectVersions, one object's prefix": lambda: s3.list_object_versions(
            Bucket=bucket, Prefix=f"conv/{GROUP}/file-0007"),
        "ListObjectsV2, the group's prefix": lambda: s3.list_objects_v2(
            Bucket=bucket, Prefix=f"conv/{GROUP}/"),
    }


def load(ddb, s3, suffix, others, objects):
    from moto.dynamodb.models import dynamodb_backends
    from moto.s3.models import s3_backends

    create_tables(ddb, suffix)
    bucket = f"bucket-{suffix}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    backend = dynamodb_backends[ACCOUNT][REGION]
    messages, files = backend.get_table(f"messages-{suffix}"), backend.get_table(f"files-{suffix}")
    started = time.monotonic()
    for seq in range(1, MESSAGES + 1):
        messages.put_item(message(GROUP, seq))
    for n in range(FILES):
        files.put_item(file_item(GROUP, n))
    messages.put_item({"conversation_id": {"S": "g-send"}, "seq": {"N": "0"}})
    for i in range(others):  # 1,000 other groups
        messages.put_item(message(f"g-other-{i % 1000:04d}", i // 1000 + 1))
        files.put_item(file_item(f"g-other-{i % 1000:04d}", i))
    s3b = s3_backends[ACCOUNT]["aws"]
    for n in range(BUCKET_OBJECTS):
        for version in range(2):
            s3b.put_object(bucket, f"conv/{GROUP}/file-{n:04d}", b"x" * 1000 + bytes([version]))
    for n in range(objects):
        s3b.put_object(bucket, f"conv/g-other-{n % 1000:04d}/file-{n:05d}", b"y" * 1000)
    return time.monotonic() - started


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--others", type=int, default=100_000, help="items in other groups, per table")
    ap.add_argument("--objects", type=int, default=10_000, help="other objects in the bucket")
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--unpatched", action="store_true", help="moto as shipped (no moto_patches.py)")
    args = ap.parse_args()

    url, installed = start_server(args.unpatched)
    cfg = Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"})
    kw = dict(endpoint_url=url, region_name=REGION, aws_access_key_id="test",
              aws_secret_access_key="test", config=cfg)
    ddb, s3 = boto3.client("dynamodb", **kw), boto3.client("s3", **kw)
    load(ddb, s3, "alone", 0, 0)
    took = load(ddb, s3, "crowded", args.others, args.objects)
    print(f"moto patches: {', '.join(installed) or 'none (moto as shipped)'}")
    print(f"crowd loaded in {took:.1f} s: {args.others:,} messages and {args.others:,} files in other "
          f"groups, {args.objects:,} other objects")

    ops = {suffix: operations(ddb, s3, suffix) for suffix in ("alone", "crowded")}
    times = {name: {"alone": [], "crowded": []} for name in ops["alone"]}
    for name in times:  # warm up: connections, lazily built indexes
        for suffix in ("alone", "crowded"):
            for _ in range(3):
                ops[suffix][name]()
    for r in range(args.rounds):
        for name in times:
            order = ("alone", "crowded") if r % 2 else ("crowded", "alone")
            for suffix in order:
                started = time.perf_counter()
                ops[suffix][name]()
                times[name][suffix].append(time.perf_counter() - started)

    print(f"\n{args.rounds} rounds, each operation on both copies in turn; median (p90) in ms\n")
    print("| operation | alone | crowded | ratio (medians) |")
    print("|---|---|---|---|")
    for name, t in times.items():
        a, c = (statistics.median(t[s]) * 1000 for s in ("alone", "crowded"))
        pa, pc = (statistics.quantiles(t[s], n=10)[-1] * 1000 for s in ("alone", "crowded"))
        print(f"| {name} | {a:.2f} ({pa:.2f}) | {c:.2f} ({pc:.2f}) | {c / a:.2f}x |")


if __name__ == "__main__":
    main()
