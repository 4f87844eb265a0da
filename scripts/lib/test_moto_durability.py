"""Proves moto_server.py --data-dir keeps every acknowledged write across `kill -9`.

Run: .local/venv-aws/bin/python scripts/lib/test_moto_durability.py
Loopback only; takes well under a minute.
"""

import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "moto_server.py")
TABLE = "groups"
BUCKET = "files"


class Moto:
    def __init__(self, data_dir, compact_mb=64):
        self.data_dir, self.compact_mb = data_dir, compact_mb
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(data_dir, f"server-{self.port}.log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, "-p", str(self.port), "--data-dir", data_dir,
             "--compact-mb", str(compact_mb)], stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                requests.get(self.url + "/moto-api/", timeout=1)
                break
            except requests.ConnectionError:
                if self.proc.poll() is not None:
                    raise RuntimeError("moto exited: " + self.read_log())
                time.sleep(0.1)
        cfg = Config(retries={"max_attempts": 1}, max_pool_connections=32)
        kw = dict(endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="test",
                  aws_secret_access_key="test", config=cfg)
        self.ddb = boto3.client("dynamodb", **kw)
        self.s3 = boto3.client("s3", **kw)

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def read_log(self):
        with open(self.log.name) as f:
            return f.read()


def sha256_b64(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("  ok:", what)


def setup_state(m):
    """Writes the scenario from the brief; returns what must survive."""
    m.ddb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "gsi1")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-gsi1", "KeySchema": [
            {"AttributeName": "gsi1", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}])
    m.ddb.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "expires"})
    for i in range(5):
        m.ddb.put_item(TableName=TABLE, Item={"pk": {"S": "g1"}, "sk": {"S": f"m{i}"},
                                              "gsi1": {"S": "u1"}, "n": {"N": str(i)}})
    m.ddb.put_item(TableName=TABLE, Item={"pk": {"S": "g1"}, "sk": {"S": "counter"}, "c": {"N": "0"}})
    # A committed transaction with a condition...
    m.ddb.transact_write_items(TransactItems=[
        {"Update": {"TableName": TABLE, "Key": {"pk": {"S": "g1"}, "sk": {"S": "counter"}},
                    "UpdateExpression": "SET c = c + :one", "ConditionExpression": "c = :zero",
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":zero": {"N": "0"}}}},
        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "g1"}, "sk": {"S": "tx"}, "gsi1": {"S": "u2"}},
                 "ConditionExpression": "attribute_not_exists(pk)"}}])
    # ...and a cancelled one, which must stay cancelled after replay.
    try:
        m.ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": TABLE, "Key": {"pk": {"S": "g1"}, "sk": {"S": "counter"}},
                        "UpdateExpression": "SET c = c + :one", "ConditionExpression": "c = :zero",
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":zero": {"N": "0"}}}},
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "g1"}, "sk": {"S": "never"}}}}])
        raise AssertionError("transaction should have been cancelled")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "TransactionCanceledException"
    m.ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "g1"}, "sk": {"S": "m4"}})

    m.s3.create_bucket(Bucket=BUCKET)
    m.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    v1 = os.urandom(200_000)  # > INLINE_MAX: stored as a blob
    cs = sha256_b64(v1)
    post = m.s3.generate_presigned_post(
        BUCKET, "photo.jpg", Fields={"x-amz-checksum-sha256": cs, "Content-Type": "image/jpeg"},
        Conditions=[{"x-amz-checksum-sha256": cs}, {"Content-Type": "image/jpeg"},
                    ["content-length-range", 1, 10_000_000]], ExpiresIn=1)
    r = requests.post(post["url"], data=post["fields"], files={"file": ("photo.jpg", v1)})
    assert r.status_code in (200, 204), (r.status_code, r.text)
    # moto 5.2.5 answers a POST upload with a bare 204 (no x-amz-version-id, no ETag), unlike
    # S3: ask for the version it created.
    vid1 = r.headers.get("x-amz-version-id") or m.s3.head_object(Bucket=BUCKET, Key="photo.jpg")["VersionId"]
    v2 = b"second version"
    vid2 = m.s3.put_object(Bucket=BUCKET, Key="photo.jpg", Body=v2, ChecksumAlgorithm="SHA256")["VersionId"]
    m.s3.put_object(Bucket=BUCKET, Key="gone.txt", Body=b"x")
    m.s3.delete_object(Bucket=BUCKET, Key="gone.txt")  # delete marker
    time.sleep(1.5)  # the presigned POST's policy has expired by the time it is replayed
    # moto 5.2.5 ignores the POST form's x-amz-checksum-sha256 (HEAD shows none for that
    # version); a PUT with ChecksumAlgorithm keeps one. Whatever HEAD said must survive.
    heads = {vid: m.s3.head_object(Bucket=BUCKET, Key="photo.jpg", VersionId=vid,
                                   ChecksumMode="ENABLED").get("ChecksumSHA256") for vid in (vid1, vid2)}
    assert heads[vid2] == sha256_b64(v2), heads
    # A multipart upload in progress (one part held): after a restart it must still be there,
    # under the same upload id, so a client resumes it instead of starting over.
    mpu = m.s3.create_multipart_upload(Bucket=BUCKET, Key="big.bin", ChecksumAlgorithm="SHA256")["UploadId"]
    part1 = os.urandom(5 * 1024 * 1024)
    m.s3.upload_part(Bucket=BUCKET, Key="big.bin", UploadId=mpu, PartNumber=1, Body=part1,
                     ChecksumSHA256=sha256_b64(part1))
    return {"v1": v1, "v2": v2, "vid1": vid1, "vid2": vid2, "heads": heads, "mpu": mpu, "part1": part1}


def verify_state(m, want):
    items = m.ddb.query(TableName=TABLE, KeyConditionExpression="pk = :g",
                        ExpressionAttributeValues={":g": {"S": "g1"}})["Items"]
    keys = sorted(i["sk"]["S"] for i in items)
    check(keys == ["counter", "m0", "m1", "m2", "m3", "tx"], f"items survived: {keys}")
    counter = m.ddb.get_item(TableName=TABLE, Key={"pk": {"S": "g1"}, "sk": {"S": "counter"}})["Item"]
    check(counter["c"]["N"] == "1", "committed transaction applied exactly once, cancelled one not")
    q = m.ddb.query(TableName=TABLE, IndexName="by-gsi1", KeyConditionExpression="gsi1 = :u",
                    ExpressionAttributeValues={":u": {"S": "u1"}})["Items"]
    check(len(q) == 4, "GSI answers after restart")
    ttl = m.ddb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    check(ttl.get("AttributeName") == "expires", "TTL setting survived")
    check(m.s3.get_bucket_versioning(Bucket=BUCKET).get("Status") == "Enabled", "bucket versioning survived")
    versions = m.s3.list_object_versions(Bucket=BUCKET, Prefix="photo.jpg")["Versions"]
    ids = sorted(v["VersionId"] for v in versions)
    check(ids == sorted([want["vid1"], want["vid2"]]), f"version ids identical: {ids}")
    old = m.s3.get_object(Bucket=BUCKET, Key="photo.jpg", VersionId=want["vid1"])
    check(old["Body"].read() == want["v1"], "presigned-POST version bytes survived")
    for vid, checksum in want["heads"].items():
        head = m.s3.head_object(Bucket=BUCKET, Key="photo.jpg", VersionId=vid, ChecksumMode="ENABLED")
        check(head.get("ChecksumSHA256") == checksum, f"HEAD ChecksumSHA256 of {vid[:8]} survived: {checksum}")
    head = m.s3.head_object(Bucket=BUCKET, Key="photo.jpg", VersionId=want["vid1"])
    check(head["ContentType"] == "image/jpeg", "Content-Type from the POST form survived")
    cur = m.s3.get_object(Bucket=BUCKET, Key="photo.jpg")
    check(cur["Body"].read() == want["v2"] and cur["VersionId"] == want["vid2"], "latest version survived")
    markers = m.s3.list_object_versions(Bucket=BUCKET, Prefix="gone.txt").get("DeleteMarkers", [])
    check(len(markers) == 1 and markers[0]["IsLatest"], "delete marker survived")
    if "mpu" in want:
        try:
            parts = m.s3.list_parts(Bucket=BUCKET, Key="big.bin", UploadId=want["mpu"]).get("Parts", [])
        except ClientError as e:
            parts = [e.response["Error"]["Code"]]
        numbers = [(p["PartNumber"], p.get("ChecksumSHA256")) if isinstance(p, dict) else p for p in parts]
        check(numbers == [(1, sha256_b64(want["part1"]))],
              f"multipart upload (same id) and its part with its checksum survived: {numbers}")


def verify_same_listing(m, listing):
    got = m.s3.list_object_versions(Bucket=BUCKET)
    for k in ("Versions", "DeleteMarkers"):
        a = [(v["Key"], v["VersionId"], v.get("ETag"), v["LastModified"]) for v in got.get(k, [])]
        b = [(v["Key"], v["VersionId"], v.get("ETag"), v["LastModified"]) for v in listing.get(k, [])]
        check(a == b, f"{k}: keys, version ids, ETags and LastModified identical ({len(a)})")


def query_pages(m):
    """Paged Queries (table and index, both directions, key conditions) and prefix listings of
    the scenario's data: moto_patches.py's partition and key-name indexes are rebuilt from the
    replayed state, and must give the same pages as before the restart."""
    pages = []
    for q in [{"KeyConditionExpression": "pk = :g", "ExpressionAttributeValues": {":g": {"S": "g1"}}},
              {"KeyConditionExpression": "pk = :g AND begins_with(sk, :m)", "ScanIndexForward": False,
               "ExpressionAttributeValues": {":g": {"S": "g1"}, ":m": {"S": "m"}}},
              {"KeyConditionExpression": "pk = :g AND sk BETWEEN :a AND :b",
               "ExpressionAttributeValues": {":g": {"S": "g1"}, ":a": {"S": "m1"}, ":b": {"S": "tx"}}},
              {"IndexName": "by-gsi1", "KeyConditionExpression": "gsi1 = :u", "ScanIndexForward": False,
               "ExpressionAttributeValues": {":u": {"S": "u1"}}}]:
        start = {}
        while True:
            out = m.ddb.query(TableName=TABLE, Limit=2, **q, **start)
            pages.append((out["Items"], out.get("LastEvaluatedKey")))
            if "LastEvaluatedKey" not in out:
                break
            start = {"ExclusiveStartKey": out["LastEvaluatedKey"]}
    for prefix in ("photo", "gone", "nothing"):
        out = m.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        pages.append([(o["Key"], o["ETag"]) for o in out.get("Contents", [])])
    return pages


def verify_same_pages(m, pages):
    got = query_pages(m)
    check(got == pages, f"paged Queries (table, index) and prefix listings identical ({len(pages)} pages)")


def load_phase(m, seconds=3.0, threads=8):
    """Concurrent writers; returns what got a 2xx answer. The server is killed mid-flight."""
    acked_items, acked_objects, stop = [], {}, threading.Event()
    lock = threading.Lock()

    def writer(t):
        n = 0
        while not stop.is_set():
            n += 1
            try:
                if n % 3:
                    m.ddb.transact_write_items(TransactItems=[{"Put": {"TableName": TABLE, "Item": {
                        "pk": {"S": f"load{t}"}, "sk": {"S": f"{n:06d}"}}}}])
                    with lock:
                        acked_items.append((f"load{t}", f"{n:06d}"))
                else:
                    body = os.urandom(20_000 + n % 7 * 1000)
                    r = m.s3.put_object(Bucket=BUCKET, Key=f"load/{t}/{n}", Body=body)
                    with lock:
                        acked_objects[f"load/{t}/{n}"] = (r["VersionId"], hashlib.sha256(body).hexdigest())
            except Exception:
                return  # the server went away; anything not acknowledged may be lost

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    time.sleep(seconds)
    m.kill9()  # mid-load
    stop.set()
    for w in workers:
        w.join()
    return acked_items, acked_objects


def verify_load(m, acked_items, acked_objects):
    missing = [k for k in acked_items if "Item" not in m.ddb.get_item(
        TableName=TABLE, Key={"pk": {"S": k[0]}, "sk": {"S": k[1]}})]
    check(not missing, f"all {len(acked_items)} acknowledged transactions present")
    bad = []
    for key, (vid, digest) in acked_objects.items():
        o = m.s3.get_object(Bucket=BUCKET, Key=key, VersionId=vid)
        if hashlib.sha256(o["Body"].read()).hexdigest() != digest:
            bad.append(key)
    check(not bad, f"all {len(acked_objects)} acknowledged objects present with their version ids")


def main():
    data = tempfile.mkdtemp(prefix="moto-durable-")
    try:
        print("1. scenario, then kill -9 and restart")
        m = Moto(data)
        want = setup_state(m)
        verify_state(m, want)
        listing = m.s3.list_object_versions(Bucket=BUCKET)
        pages = query_pages(m)
        m.kill9()
        m = Moto(data)
        verify_state(m, want)
        verify_same_listing(m, listing)
        verify_same_pages(m, pages)

        print("2. concurrent writers, kill -9 mid-load, restart")
        acked_items, acked_objects = load_phase(m)
        m = Moto(data)
        verify_load(m, acked_items, acked_objects)
        verify_state(m, want)

        print("3. torn last record (crash mid-append) is skipped")
        m.kill9()
        with open(os.path.join(data, "journal"), "ab") as f:
            f.write(b"MJR1\x00\x00\x01\x00\xde\xad\xbe\xef{\"svc\":")  # header + partial payload
        m = Moto(data)
        verify_state(m, want)
        verify_load(m, acked_items, acked_objects)
        check("torn/corrupt tail" in m.read_log(), "torn tail reported in the log")
        listing = m.s3.list_object_versions(Bucket=BUCKET)

        print("4. compaction at startup (threshold 0), then restart from the snapshot")
        m.kill9()
        before = os.path.getsize(os.path.join(data, "journal"))
        m = Moto(data, compact_mb=0)
        log = m.read_log()
        check("compaction:" in log and "keeping the full journal" not in log, "compaction ran and verified")
        after = os.path.getsize(os.path.join(data, "journal"))
        print(f"  journal {before} -> {after} bytes")
        verify_state(m, want)
        verify_load(m, acked_items, acked_objects)
        verify_same_listing(m, listing)
        verify_same_pages(m, pages)
        m.s3.put_object(Bucket=BUCKET, Key="after-compaction", Body=b"new")
        m.kill9()
        m = Moto(data)
        verify_state(m, want)
        verify_load(m, acked_items, acked_objects)
        verify_same_listing(m, m.s3.list_object_versions(Bucket=BUCKET))
        check(m.s3.get_object(Bucket=BUCKET, Key="after-compaction")["Body"].read() == b"new",
              "writes after compaction are journaled too")
        check("did not replay identically" not in m.read_log(), "no replay mismatches logged")
        m.kill9()
        print("PASS")
    except BaseException:
        print("--- last server log ---\n" + m.read_log()[-4000:])
        raise
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
