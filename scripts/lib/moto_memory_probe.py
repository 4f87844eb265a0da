"""Bounded reproduction of moto_server.py's memory growth; prints the server's RSS as it goes.

Run: .local/venv-aws/bin/python scripts/lib/moto_memory_probe.py [--tx 3000] [--uploads 300]
     [--threads 8] [--no-containment]
Starts its own moto_server.py on a free loopback port, drives DynamoDB transactions against a
growing table (and some that are cancelled) plus 100 KB - 1 MB S3 uploads / overwrites from
several threads (new connections now and then, like benchmarks do), then stops the server.
`--no-containment` leaves out moto_patches.py's memory and transaction patches (moto as shipped).
"""

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads"):
                out[k] = v.strip()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tx", type=int, default=3000)
    ap.add_argument("--uploads", type=int, default=300)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--no-containment", action="store_true")
    ap.add_argument("--data-dir")
    args = ap.parse_args()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ)
    if args.no_containment:
        env["MOTO_PATCHES_OFF"] = "memory.untracked-instances,dynamodb.transactions,dynamodb.stream-iterators"
    cmd = [sys.executable, os.path.join(HERE, "moto_server.py"), "-p", str(port)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            requests.get(url + "/moto-api/", timeout=1)
            break
        except requests.ConnectionError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)

    def clients():
        kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="t",
                  aws_secret_access_key="t", config=Config(retries={"max_attempts": 1}))
        return boto3.client("dynamodb", **kw), boto3.client("s3", **kw)

    ddb, s3 = clients()
    ddb.create_table(
        TableName="t", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "g")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}])
    s3.create_bucket(Bucket="probe")
    s3.put_bucket_versioning(Bucket="probe", VersioningConfiguration={"Status": "Enabled"})
    s3.create_bucket(Bucket="plain")

    start = time.time()
    print(f"{0:6.1f}s tx=0 up=0 {status(proc.pid)}", flush=True)
    done = {"tx": 0, "up": 0}
    lock = threading.Lock()
    pad = "x" * 400  # ~0.5 KB items, a few thousand of them: like the app's tables

    def tx_worker(t, n):
        ddb, _ = clients()
        for i in range(n):
            if i % 200 == 0:
                ddb, _ = clients()  # fresh connections, as short-lived probes make
            k = f"{t}-{i}"
            try:
                ddb.transact_write_items(TransactItems=[
                    {"Put": {"TableName": "t", "Item": {"pk": {"S": f"g{t}"}, "sk": {"S": k},
                                                        "g": {"S": f"u{i % 50}"}, "pad": {"S": pad}},
                             "ConditionExpression": "attribute_not_exists(pk)"}},
                    {"Update": {"TableName": "t", "Key": {"pk": {"S": "counters"}, "sk": {"S": str(t)}},
                                "UpdateExpression": "ADD n :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}}}}])
                if i % 4 == 0:  # a cancelled one too: its condition fails
                    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": "t", "Item": {
                        "pk": {"S": f"g{t}"}, "sk": {"S": k}}, "ConditionExpression": "attribute_not_exists(pk)"}}])
            except ClientError:
                pass
            with lock:
                done["tx"] += 1

    def s3_worker(t, n):
        _, s3 = clients()
        rnd = random.Random(t)
        for i in range(n):
            body = os.urandom(rnd.randint(100_000, 1_000_000))
            # overwrite a small key set in both buckets: versions pile up in one, not the other
            s3.put_object(Bucket="plain", Key=f"k{t}-{i % 5}", Body=body)
            if i % 3 == 0:
                s3.put_object(Bucket="probe", Key=f"k{t}-{i % 5}", Body=body[:200_000])
            with lock:
                done["up"] += 1

    nt = max(1, args.threads // 2)
    workers = [threading.Thread(target=tx_worker, args=(t, args.tx // nt)) for t in range(nt)]
    workers += [threading.Thread(target=s3_worker, args=(t, args.uploads // nt)) for t in range(nt)]
    for w in workers:
        w.start()
    while any(w.is_alive() for w in workers):
        time.sleep(5)
        print(f"{time.time() - start:6.1f}s tx={done['tx']} up={done['up']} {status(proc.pid)}", flush=True)
    for w in workers:
        w.join()
    print(f"{time.time() - start:6.1f}s done {status(proc.pid)}", flush=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


if __name__ == "__main__":
    main()
