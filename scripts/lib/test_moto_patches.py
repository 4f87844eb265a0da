"""Proves each patch of moto_patches.py: every test names the patches it proves.

Run: .local/venv-aws/bin/python scripts/lib/test_moto_patches.py [test ...]
     .local/venv-aws/bin/python scripts/lib/test_moto_patches.py --prove [patch ...]
The second form also runs each patch's tests with that patch left out (MOTO_PATCHES_OFF) and
fails unless they fail: no patch is proved by a test that cannot fail.
Loopback only. Most tests run moto's app in this process (to count what it touches); the
presigned-URL test runs moto_server.py with a journal, to replay after expiry.
"""

import base64
import concurrent.futures
import copy
import hashlib
import json
import logging
import os
import random
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
sys.path.insert(0, HERE)

import moto_patches  # noqa: E402
from test_moto_durability import Moto, check  # noqa: E402

ACCOUNT, REGION = "123456789012", "us-east-1"
TESTS = {}  # name -> (function, patches it proves)


def proves(*patches):
    def register(fn):
        unknown = set(patches) - set(moto_patches.PATCHES)
        assert not unknown, unknown
        TESTS[fn.__name__] = (fn, patches)
        return fn
    return register


# --------------------------------------------------------------------------------------------
# moto in this process, patched as moto_server.py patches it

_URL = None


def url():
    global _URL
    if _URL is None:
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        import moto_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto_patches.install()
        server = make_server("127.0.0.1", 0, moto_server.serialized, threaded=True,
                             request_handler=MotoRequestHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        _URL = f"http://127.0.0.1:{server.server_port}"
    requests.post(_URL + "/moto-api/reset")
    return _URL


def client(service, endpoint=None, key="test", secret="test"):
    cfg = Config(retries={"max_attempts": 1}, signature_version="s3v4",
                 s3={"addressing_style": "path"})
    return boto3.client(service, endpoint_url=endpoint or _URL, region_name=REGION,
                        aws_access_key_id=key, aws_secret_access_key=secret, config=cfg)


def ddb_backend():
    from moto.dynamodb.models import dynamodb_backends
    return dynamodb_backends[ACCOUNT][REGION]


def s3_backend():
    from moto.s3.models import s3_backends
    return s3_backends[ACCOUNT]["aws"]


def sha256_b64(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def code_of(r):
    text = r.text
    return text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else ""


def error_code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def create_table(ddb, name, keys, gsis=(), lsis=(), stream=False):
    """keys: [(attr, type)] hash first; gsis/lsis: (name, [(attr, type)], projection)."""
    attrs = dict(keys)
    for _, index_keys, _ in list(gsis) + list(lsis):
        attrs.update(dict(index_keys))

    def schema(ks):
        return [{"AttributeName": a, "KeyType": "HASH" if i == 0 else "RANGE"} for i, (a, _) in enumerate(ks)]

    args = dict(TableName=name, BillingMode="PAY_PER_REQUEST", KeySchema=schema(keys),
                AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t in attrs.items()])
    if gsis:
        args["GlobalSecondaryIndexes"] = [{"IndexName": n, "KeySchema": schema(k), "Projection": p}
                                          for n, k, p in gsis]
    if lsis:
        args["LocalSecondaryIndexes"] = [{"IndexName": n, "KeySchema": schema(k), "Projection": p}
                                         for n, k, p in lsis]
    if stream:
        args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    ddb.create_table(**args)


# --------------------------------------------------------------------------------------------
# memory and DynamoDB


@proves()
def requests_one_at_a_time():
    print("moto_server.py: requests are handled one at a time, as DynamoDB makes each atomic")
    import moto_server

    url()
    ddb = client("dynamodb")
    create_table(ddb, "t", [("pk", "S")])
    app, inside, most = moto_server._app, [0], [0]

    def counting_app(environ, start_response):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        try:
            time.sleep(0.002)  # widen the window another request could enter by
            return app(environ, start_response)
        finally:
            inside[0] -= 1

    def writer(n):
        c = client("dynamodb")
        for i in range(15):
            c.put_item(TableName="t", Item={"pk": {"S": f"{n}-{i}"}})

    moto_server._app = counting_app
    try:
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        moto_server._app = app
    count = ddb.scan(TableName="t", Select="COUNT")["Count"]
    check(count == 90 and most[0] == 1, f"6 concurrent writers, 90 items, at most {most[0]} request inside moto")


@proves("memory.untracked-instances")
def memory():
    print("memory: moto records none of the objects it creates")
    from moto.dynamodb.models.dynamo_type import Item
    from moto.s3.models import FakeKey

    url()
    ddb, s3 = client("dynamodb"), client("s3")
    create_table(ddb, "t", [("pk", "S"), ("sk", "N")])
    s3.create_bucket(Bucket="bkt")
    items, keys = len(Item.instances_tracked), len(FakeKey.instances_tracked)
    for i in range(50):
        ddb.put_item(TableName="t", Item={"pk": {"S": "p"}, "sk": {"N": str(i)}})
        s3.put_object(Bucket="bkt", Key=f"k{i}", Body=b"x")
    ddb.query(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}})
    grown = (len(Item.instances_tracked) - items, len(FakeKey.instances_tracked) - keys)
    check(grown == (0, 0), f"50 items, a Query of them and 50 objects leave nothing recorded {grown}")


@proves("dynamodb.transactions")
def transactions():
    print("transactions: all conditions first, nothing written on failure, no table copied")
    from moto.dynamodb.models.table import Table

    url()
    ddb = client("dynamodb")
    create_table(ddb, "t", [("pk", "S")])
    for i in range(300):
        ddb.put_item(TableName="t", Item={"pk": {"S": f"other{i}"}})
    ddb.put_item(TableName="t", Item={"pk": {"S": "counter"}, "n": {"N": "5"}})
    copied = []
    deepcopy = copy.deepcopy

    def counting_deepcopy(x, memo=None, _nil=[]):  # noqa: B006 - copy.deepcopy's signature
        if isinstance(x, Table):
            copied.append(x.name)
        return deepcopy(x, memo, _nil)

    copy.deepcopy = counting_deepcopy
    try:
        bump = {"Update": {"TableName": "t", "Key": {"pk": {"S": "counter"}},
                           "UpdateExpression": "SET n = n + :one", "ConditionExpression": "n = :five",
                           "ExpressionAttributeValues": {":one": {"N": "1"}, ":five": {"N": "5"}},
                           "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}
        ddb.transact_write_items(TransactItems=[bump, {"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}}}}])
        try:
            ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "b"}}}}, bump])
            reasons = None
        except ClientError as e:
            reasons = [(r["Code"], r.get("Item")) for r in e.response["CancellationReasons"]]
        dup = error_code(lambda: ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "c"}}}},
            {"Delete": {"TableName": "t", "Key": {"pk": {"S": "c"}}}}]))
    finally:
        copy.deepcopy = deepcopy
    got = {k: "Item" in ddb.get_item(TableName="t", Key={"pk": {"S": k}}) for k in ("a", "b", "c")}
    counter = ddb.get_item(TableName="t", Key={"pk": {"S": "counter"}})["Item"]["n"]["N"]
    check(counter == "6" and got == {"a": True, "b": False, "c": False},
          f"committed one applied once, cancelled ones wrote nothing ({counter}, {got})")
    check(reasons == [("None", None), ("ConditionalCheckFailed", {"pk": {"S": "counter"}, "n": {"N": "6"}})],
          f"cancellation reasons per part, ALL_OLD item on the failed one: {reasons}")
    check(dup == "ValidationException", f"two parts on one item refused: {dup}")
    check(copied == [], f"no table deep-copied by TransactWriteItems ({len(copied)} copies)")


def messages_like(ddb):
    """A table like GroupShare's messages and files tables in one: a partition per group."""
    create_table(ddb, "m", [("pk", "S"), ("sk", "N")],
                 gsis=[("by-g", [("g", "S"), ("r", "N")], {"ProjectionType": "ALL"})])


@proves("dynamodb.query-partition")
def query_touches_one_partition():
    print("query-partition: a Query reads its own partition, not the table")
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    url()
    ddb = client("dynamodb")
    messages_like(ddb)
    table = ddb_backend().get_table("m")
    for i in range(2000):  # other groups, straight into moto
        table.put_item({"pk": {"S": f"other{i % 40}"}, "sk": {"N": str(i)},
                        "g": {"S": f"og{i % 40}"}, "r": {"N": str(i)}})
    for i in range(8):
        ddb.put_item(TableName="m", Item={"pk": {"S": "small"}, "sk": {"N": str(i)},
                                          "g": {"S": "sg"}, "r": {"N": str(100 - i)}})
    calls = []
    all_items = Table.all_items

    def counting_all_items(self):
        calls.append(self.name)
        return all_items(self)

    def page(**kw):
        return [int(i["sk"]["N"]) for i in ddb.query(TableName="m", Limit=3, **kw)["Items"]]

    Table.all_items = counting_all_items
    try:
        newest = page(KeyConditionExpression="pk = :p", ScanIndexForward=False,
                      ExpressionAttributeValues={":p": {"S": "small"}})
        after = page(KeyConditionExpression="pk = :p AND sk > :s",
                     ExpressionAttributeValues={":p": {"S": "small"}, ":s": {"N": "2"}})
        by_g = page(IndexName="by-g", KeyConditionExpression="g = :g",
                    ExpressionAttributeValues={":g": {"S": "sg"}})
        # One item leaves the index partition, one from another group joins it first in line.
        ddb.update_item(TableName="m", Key={"pk": {"S": "small"}, "sk": {"N": "7"}},
                        UpdateExpression="SET g = :o", ExpressionAttributeValues={":o": {"S": "og1"}})
        arn = ddb.describe_table(TableName="m")["Table"]["TableArn"]  # named by ARN, as DynamoDB allows
        ddb.update_item(TableName=arn, Key={"pk": {"S": "other1"}, "sk": {"N": "1"}},
                        UpdateExpression="SET g = :g, r = :r",
                        ExpressionAttributeValues={":g": {"S": "sg"}, ":r": {"N": "0"}})
        by_g_after = page(IndexName="by-g", KeyConditionExpression="g = :g",
                          ExpressionAttributeValues={":g": {"S": "sg"}})
        ddb.delete_item(TableName="m", Key={"pk": {"S": "other1"}, "sk": {"N": "1"}})
        index = table.__dict__.get("_groupshare_attr_indexes", {}).get("g", {})
        kept = sorted(int(sk.value) for _, sk in index.get(DynamoType({"S": "sg"}), {}))
    finally:
        Table.all_items = all_items
    check((newest, after, by_g, by_g_after) == ([7, 6, 5], [3, 4, 5], [7, 6, 5], [1, 6, 5]),
          f"pages right: newest {newest}, after 2 {after}, index {by_g}, index after an update {by_g_after}")
    check(calls == [], f"the 2,008-item table was not listed ({len(calls)} full listings)")
    check(kept == list(range(7)), f"the index forgets what was deleted or moved away: {kept}")


def _random_item(rng, table):
    pk = {"S": f"p{rng.randrange(6)}"}
    if table == "files":
        item = {"id": {"S": f"f{rng.randrange(60)}"}}
        if rng.random() < 0.8:
            item["c"] = {"S": f"c{rng.randrange(4)}"}
        if rng.random() < 0.8:
            item["t"] = {"N": str(rng.randrange(30))}
    elif table == "strs":
        item = {"pk": pk, "sk": {"S": rng.choice(["a", "ab", "abc", "b", "ba", "c", "ca", "cab"]) + str(rng.randrange(5))}}
        if rng.random() < 0.7:
            item["g"] = {"S": f"g{rng.randrange(3)}"}
            item["s2"] = {"S": rng.choice(["x", "xy", "y", "yz", "z"])}
    else:
        item = {"pk": pk, "sk": {"N": str(rng.randrange(40) - 5)}}
        if rng.random() < 0.75:
            item["g"] = {"S": f"g{rng.randrange(4)}"}
        if rng.random() < 0.8:
            item["r"] = {"N": rng.choice(["1", "2", "2.5", "3", "-1", "10", "100"])}
        if rng.random() < 0.5:
            item["h"] = {"S": f"h{rng.randrange(3)}"}
        if rng.random() < 0.5:
            item["l"] = {"S": rng.choice(["a", "b", "c", "d"])}
    if rng.random() < 0.7:
        item["n"] = {"N": str(rng.randrange(10))}
    if rng.random() < 0.2:
        item["big"] = {"S": "x" * rng.randrange(1, 2000)}
    return item


KEYS = {"msgs": ("pk", "sk"), "files": ("id",), "strs": ("pk", "sk")}


def _random_write(rng, ddb):
    table = rng.choice(list(KEYS))
    item = _random_item(rng, table)
    key = {k: item[k] for k in KEYS[table]}
    op = rng.random()
    if op < 0.45:
        args = {}
        if rng.random() < 0.2:
            args = {"ConditionExpression": "attribute_not_exists(n)"}
        ddb.put_item(TableName=table, Item=item, **args)
    elif op < 0.7:
        attr = {"msgs": rng.choice(["g", "r", "h", "l"]), "files": rng.choice(["c", "t"]),
                "strs": rng.choice(["g", "s2"])}[table]
        value = _random_item(rng, table).get(attr)
        if value is None or rng.random() < 0.3:
            expr, values = f"REMOVE {attr}", {}
        else:
            expr, values = f"SET {attr} = :v, n = if_not_exists(n, :z)", {":v": value, ":z": {"N": "0"}}
        args = {"ExpressionAttributeValues": values} if values else {}
        if rng.random() < 0.2:
            args["ConditionExpression"] = "attribute_exists(n)"
        ddb.update_item(TableName=table, Key=key, UpdateExpression=expr, **args)
    elif op < 0.85:
        ddb.delete_item(TableName=table, Key=key)
    elif op < 0.95:
        parts, seen = [], set()
        for _ in range(rng.randrange(1, 4)):
            it = _random_item(rng, table)
            k = {a: it[a] for a in KEYS[table]}
            if json.dumps(k, sort_keys=True) in seen:
                continue
            seen.add(json.dumps(k, sort_keys=True))
            kind = rng.choice(["Put", "Delete", "Update", "ConditionCheck"])
            if kind == "Put":
                parts.append({"Put": {"TableName": table, "Item": it}})
            elif kind == "Delete":
                parts.append({"Delete": {"TableName": table, "Key": k}})
            elif kind == "Update":
                attr = {"msgs": "g", "files": "c", "strs": "g"}[table]
                parts.append({"Update": {"TableName": table, "Key": k, "UpdateExpression": f"SET {attr} = :v",
                                         "ExpressionAttributeValues": {":v": it.get(attr, {"S": "g0"})}}})
            else:
                parts.append({"ConditionCheck": {"TableName": table, "Key": k,
                                                 "ConditionExpression": "attribute_exists(n)"}})
        ddb.transact_write_items(TransactItems=parts)
    else:
        requests_, seen = [], set()
        for _ in range(rng.randrange(1, 25)):
            it = _random_item(rng, table)
            k = {a: it[a] for a in KEYS[table]}
            if json.dumps(k, sort_keys=True) in seen:
                continue
            seen.add(json.dumps(k, sort_keys=True))
            requests_.append({"PutRequest": {"Item": it}} if rng.random() < 0.7
                             else {"DeleteRequest": {"Key": k}})
        ddb.batch_write_item(RequestItems={table: requests_})


def _random_query(rng):
    table = rng.choice(list(KEYS))
    values = {}
    q = {"TableName": table}
    index = rng.choice({"msgs": [None, None, "by-g", "by-h", "by-l"], "files": [None, "by-c", "by-c"],
                        "strs": [None, "by-g", "by-g2"]}[table])
    hash_attr, range_attr, range_type = {
        ("msgs", None): ("pk", "sk", "N"), ("msgs", "by-g"): ("g", "r", "N"),
        ("msgs", "by-h"): ("h", None, None), ("msgs", "by-l"): ("pk", "l", "S"),
        ("files", None): ("id", None, None), ("files", "by-c"): ("c", "t", "N"),
        ("strs", None): ("pk", "sk", "S"), ("strs", "by-g"): ("g", "s2", "S"),
        ("strs", "by-g2"): ("g", None, None)}[(table, index)]
    if index:
        q["IndexName"] = index
    pool = {"pk": [f"p{i}" for i in range(7)], "g": [f"g{i}" for i in range(5)],
            "h": ["h0", "h1", "h2", "h9"], "id": [f"f{i}" for i in range(62)], "c": [f"c{i}" for i in range(5)]}
    values[":h"] = {"S": rng.choice(pool[hash_attr])}
    cond = "#h = :h"
    names = {"#h": hash_attr}
    if range_attr and rng.random() < 0.7:
        names["#r"] = range_attr
        ops = ["=", "<", "<=", ">", ">=", "BETWEEN"] + (["begins_with"] if range_type == "S" else [])
        op = rng.choice(ops)

        def v():
            if range_type == "N":
                return {"N": rng.choice(["-3", "0", "1", "2", "2.5", "3", "7", "10", "20", "39"])}
            return {"S": rng.choice(["", "a", "ab", "b", "c", "x", "y", "z", "ca", "cab2"])[: 4] or "a"}

        values[":a"] = v()
        if op == "BETWEEN":
            values[":b"] = v()
            cond += " AND #r BETWEEN :a AND :b"
        elif op == "begins_with":
            cond += " AND begins_with(#r, :a)"
        else:
            cond += f" AND #r {op} :a"
    q["KeyConditionExpression"] = cond
    q["ExpressionAttributeNames"] = names
    if rng.random() < 0.5:
        q["ScanIndexForward"] = False
    if rng.random() < 0.8:
        q["Limit"] = rng.choice([1, 2, 3, 7, 50])
    if rng.random() < 0.3:
        q["FilterExpression"] = rng.choice(["n > :f", "attribute_exists(big)", "n = :f OR attribute_not_exists(n)"])
        if ":f" in q["FilterExpression"]:
            values[":f"] = {"N": str(rng.randrange(10))}
    if rng.random() < 0.15:
        q["ProjectionExpression"] = "#h, n"
    elif rng.random() < 0.1:
        q["Select"] = "COUNT"
    if rng.random() < 0.05:
        q["ConsistentRead"] = True
    q["ExpressionAttributeValues"] = values
    return q


def _all_pages(ddb, q):
    pages, start = [], None
    for _ in range(300):
        try:
            out = ddb.query(**q, **({"ExclusiveStartKey": start} if start else {}))
        except ClientError as e:
            return pages + [("error", e.response["Error"]["Code"], e.response["Error"]["Message"])]
        out.pop("ResponseMetadata", None)
        pages.append(out)
        start = out.get("LastEvaluatedKey")
        if not start:
            return pages
    return pages + ["more than 300 pages"]


@proves("dynamodb.query-partition")
def query_same_pages_as_moto():
    print("query-partition: random writes and Queries, every page as moto's own Query answers it")
    from moto.dynamodb.models.table import Table

    url()
    ddb = client("dynamodb")
    create_table(ddb, "msgs", [("pk", "S"), ("sk", "N")],
                 gsis=[("by-g", [("g", "S"), ("r", "N")], {"ProjectionType": "ALL"}),
                       ("by-h", [("h", "S")], {"ProjectionType": "KEYS_ONLY"})],
                 lsis=[("by-l", [("pk", "S"), ("l", "S")], {"ProjectionType": "ALL"})])
    create_table(ddb, "files", [("id", "S")], gsis=[
        ("by-c", [("c", "S"), ("t", "N")], {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["n"]})])
    create_table(ddb, "strs", [("pk", "S"), ("sk", "S")], gsis=[
        ("by-g", [("g", "S"), ("s2", "S")], {"ProjectionType": "ALL"}),
        ("by-g2", [("g", "S")], {"ProjectionType": "ALL"})])
    if "Table.query" not in moto_patches.ORIGINAL:
        print("  skipped: the patch is off, there is nothing to compare moto's Query with")
        return
    patched, moto_own = Table.query, moto_patches.ORIGINAL["Table.query"]
    rng = random.Random(20261206)
    compared = pages = items = 0
    for step in range(1000):
        try:
            _random_write(rng, ddb)
        except ClientError:
            pass  # failed conditions and cancelled transactions are part of the workload
        if step % 40 == 39:
            for _ in range(24):
                q = _random_query(rng)
                got = _all_pages(ddb, q)
                Table.query = moto_own
                try:
                    want = _all_pages(ddb, q)
                finally:
                    Table.query = patched
                if got != want:
                    raise AssertionError(f"after {step + 1} writes, {q}:\n patched {got}\n moto    {want}")
                compared += 1
                pages += len(got)
                items += sum(len(p.get("Items", [])) for p in got if isinstance(p, dict))
    check(compared == 600 and items > 1000,
          f"{compared} Queries ({pages} pages, {items} items; base table, GSI, LSI, key conditions, "
          "both directions, Limit, filters, projections) identical to moto's")


@proves("dynamodb.stream-iterators")
def stream_iterators():
    print("stream-iterators: polling a stream does not grow moto")
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    url()
    ddb, streams = client("dynamodb"), client("dynamodbstreams")
    create_table(ddb, "s", [("pk", "S")], stream=True)
    arn = ddb.describe_table(TableName="s")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    seen = []
    for i in range(60):
        if i % 10 == 0:
            ddb.put_item(TableName="s", Item={"pk": {"S": str(i)}})
        out = streams.get_records(ShardIterator=it)
        seen += [r["dynamodb"]["Keys"]["pk"]["S"] for r in out["Records"]]
        it = out["NextShardIterator"]
    kept = len(dynamodbstreams_backends[ACCOUNT][REGION].shard_iterators)
    check(seen == [str(i) for i in range(0, 60, 10)], f"every record read once: {seen}")
    check(kept == 1, f"60 polls leave 1 iterator (the next one) in moto: {kept}")


# --------------------------------------------------------------------------------------------
# S3 uploads


@proves("s3.post-upload")
def post_upload():
    print("post-upload: a browser-form upload is checked as S3 checks it")
    url()
    s3 = client("s3")
    s3.create_bucket(Bucket="bkt")
    s3.put_bucket_versioning(Bucket="bkt", VersioningConfiguration={"Status": "Enabled"})

    def post(key, body, checksum, low=2, high=10):
        p = s3.generate_presigned_post("bkt", key, Fields={"x-amz-checksum-sha256": checksum},
                                       Conditions=[{"x-amz-checksum-sha256": checksum},
                                                   ["content-length-range", low, high]], ExpiresIn=60)
        return requests.post(p["url"], data=p["fields"], files={"file": (key, body)})

    for name, r, code in [("over the range", post("big", b"x" * 11, sha256_b64(b"x" * 11)), "EntityTooLarge"),
                          ("under the range", post("small", b"x", sha256_b64(b"x")), "EntityTooSmall"),
                          ("another SHA-256", post("bad", b"hello", sha256_b64(b"other")), "BadDigest")]:
        check(r.status_code == 400 and code_of(r) == code, f"{name}: 400 {code} ({r.status_code} {code_of(r)})")
    stored = [o["Key"] for o in s3.list_objects_v2(Bucket="bkt").get("Contents", [])]
    check(stored == [], f"nothing refused was stored: {stored}")
    r = post("ok", b"hello", sha256_b64(b"hello"))
    head = s3.head_object(Bucket="bkt", Key="ok", ChecksumMode="ENABLED")
    check(r.status_code == 204 and r.headers.get("x-amz-version-id") == head["VersionId"],
          f"accepted upload answers its version id ({r.status_code} {r.headers.get('x-amz-version-id')})")
    check(head.get("ChecksumSHA256") == sha256_b64(b"hello"), "HeadObject reports the declared SHA-256")


def _multipart_upload(s3, key, parts):
    upload = s3.create_multipart_upload(Bucket="bkt", Key=key, ChecksumAlgorithm="SHA256")["UploadId"]
    for n, body in enumerate(parts, 1):
        s3.upload_part(Bucket="bkt", Key=key, UploadId=upload, PartNumber=n, Body=body,
                       ChecksumSHA256=sha256_b64(body))
    return upload


@proves("s3.multipart-checksums")
def multipart_checksums():
    print("multipart-checksums: parts, ListParts, completion and HEAD as S3 has them")
    url()
    s3 = client("s3")
    s3.create_bucket(Bucket="bkt")
    p1, p2 = os.urandom(5 * 1024 * 1024), b"tail"
    upload = s3.create_multipart_upload(Bucket="bkt", Key="k", ChecksumAlgorithm="SHA256")["UploadId"]
    bad = error_code(lambda: s3.upload_part(Bucket="bkt", Key="k", UploadId=upload, PartNumber=1, Body=p1,
                                            ChecksumSHA256=sha256_b64(b"not these bytes")))
    check(bad == "BadDigest", f"a part with another SHA-256: BadDigest ({bad})")
    etags = [s3.upload_part(Bucket="bkt", Key="k", UploadId=upload, PartNumber=n, Body=body,
                            ChecksumSHA256=sha256_b64(body))["ETag"] for n, body in ((1, p1), (2, p2))]
    raw = requests.get(s3.generate_presigned_url("list_parts", Params={
        "Bucket": "bkt", "Key": "k", "UploadId": upload}))
    check("<ListPartsResult" in raw.text and raw.text.count("<ChecksumSHA256>") == 2,
          "ListParts answers S3's ListPartsResult with each part's ChecksumSHA256")
    listed = [(p["PartNumber"], p.get("ChecksumSHA256")) for p in
              s3.list_parts(Bucket="bkt", Key="k", UploadId=upload)["Parts"]]
    check(listed == [(1, sha256_b64(p1)), (2, sha256_b64(p2))], "... as the SDK reads it")
    missing = error_code(lambda: s3.complete_multipart_upload(Bucket="bkt", Key="k", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": etags[0]}, {"PartNumber": 2, "ETag": etags[1]}]}))
    wrong = error_code(lambda: s3.complete_multipart_upload(Bucket="bkt", Key="k", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": etags[0], "ChecksumSHA256": sha256_b64(p2)},
                  {"PartNumber": 2, "ETag": etags[1], "ChecksumSHA256": sha256_b64(p2)}]}))
    check((missing, wrong) == ("InvalidPart", "InvalidPart"),
          f"completion without the parts' checksums, or with a wrong one: InvalidPart ({missing}, {wrong})")
    s3.complete_multipart_upload(Bucket="bkt", Key="k", UploadId=upload, MultipartUpload={"Parts": [
        {"PartNumber": n, "ETag": e, "ChecksumSHA256": sha256_b64(b)}
        for n, (e, b) in enumerate(zip(etags, (p1, p2)), 1)]})
    composite = base64.b64encode(hashlib.sha256(
        hashlib.sha256(p1).digest() + hashlib.sha256(p2).digest()).digest()).decode()
    head = s3.head_object(Bucket="bkt", Key="k", ChecksumMode="ENABLED")
    check(head.get("ChecksumSHA256") == f"{composite}-2" and head.get("ChecksumType") == "COMPOSITE",
          f"HeadObject: the composite checksum with -2, COMPOSITE ({head.get('ChecksumSHA256')}, "
          f"{head.get('ChecksumType')})")
    gone = _multipart_upload(s3, "gone", [b"x"])
    s3.abort_multipart_upload(Bucket="bkt", Key="gone", UploadId=gone)
    part = error_code(lambda: s3.upload_part(Bucket="bkt", Key="gone", UploadId=gone, PartNumber=2, Body=b"y"))
    done = error_code(lambda: s3.complete_multipart_upload(Bucket="bkt", Key="gone", UploadId=gone, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": '"x"', "ChecksumSHA256": sha256_b64(b"x")}]}))
    check((part, done) == ("NoSuchUpload", "NoSuchUpload"),
          f"a part for, and completion of, an aborted upload: NoSuchUpload ({part}, {done})")


@proves("s3.kept-part-digests")
def kept_part_digests():
    print("kept-part-digests: completion does not hash the parts again")
    import moto.s3.models as s3_models

    url()
    s3 = client("s3")
    s3.create_bucket(Bucket="bkt")
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(1000)]
    upload = _multipart_upload(s3, "k", parts)
    etags = [p["ETag"] for p in s3.list_parts(Bucket="bkt", Key="k", UploadId=upload)["Parts"]]
    hashed = []
    builder = s3_models.MultipartChecksumBuilder
    add_part = builder.addPart

    def counting_add_part(self, part):
        hashed.append(len(part))
        return add_part(self, part)

    builder.addPart = counting_add_part
    try:
        s3.complete_multipart_upload(Bucket="bkt", Key="k", UploadId=upload, MultipartUpload={"Parts": [
            {"PartNumber": n, "ETag": e, "ChecksumSHA256": sha256_b64(b)}
            for n, (e, b) in enumerate(zip(etags, parts), 1)]})
    finally:
        builder.addPart = add_part
    body = s3.get_object(Bucket="bkt", Key="k", ChecksumMode="ENABLED")
    composite = base64.b64encode(hashlib.sha256(b"".join(
        hashlib.sha256(p).digest() for p in parts)).digest()).decode()
    check(body["Body"].read() == b"".join(parts) and body.get("ChecksumSHA256", "").split("-")[0] == composite,
          "the object and its composite checksum are right")
    check(hashed == [], f"no part hashed again on completion ({len(hashed)} parts hashed)")


@proves("s3.event-fields")
def event_fields():
    print("event-fields: notifications carry versionId and the fields Lambda requires")
    url()
    s3, sqs = client("s3"), client("sqs")
    queue = sqs.create_queue(QueueName="events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.create_bucket(Bucket="bkt")
    s3.put_bucket_versioning(Bucket="bkt", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(Bucket="bkt", NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    version = s3.put_object(Bucket="bkt", Key="k", Body=b"x")["VersionId"]
    records = []
    for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        records += json.loads(m["Body"]).get("Records", [])
    check(len(records) == 1, f"one record for one PutObject ({len(records)})")
    record = records[0]
    check(record["s3"]["object"].get("versionId") == version, "the record names the version")
    check(all(k in record for k in ("userIdentity", "requestParameters", "responseElements")),
          "the record has userIdentity, requestParameters and responseElements")


# --------------------------------------------------------------------------------------------
# S3 presigned URLs (moto_server.py with a journal: the last check replays after expiry)


def without_param(u, name):
    base, query = u.split("?", 1)
    kept = [p for p in query.split("&") if p.split("=", 1)[0] != name]
    assert len(kept) < len(query.split("&")), f"{name} not in {u}"
    return base + "?" + "&".join(kept)


def with_signature_char_changed(u):
    i = u.index("X-Amz-Signature=") + len("X-Amz-Signature=") + 5
    return u[:i] + ("0" if u[i] != "0" else "1") + u[i + 1:]


@proves("s3.presigned-verify")
def presigned():
    print("presigned-verify: presigned URLs are verified as S3 verifies them")
    data = tempfile.mkdtemp(prefix="moto-presigned-")
    m = Moto(data)
    try:
        upload, part = _presigned_checks(m)
        print("  a journaled presigned part PUT replays after its URL expired")
        m.kill9()
        time.sleep(2.1)  # the part URL (ExpiresIn=2) has expired by the replay
        m = Moto(data)
        parts = client("s3", m.url).list_parts(Bucket="bkt", Key="big.bin", UploadId=upload).get("Parts", [])
        check([(p["PartNumber"], p.get("ChecksumSHA256")) for p in parts] == [(1, sha256_b64(part))],
              "the part survived the restart")
        check("did not replay identically" not in m.read_log(), "no replay mismatches logged")
    except BaseException:
        print("--- last server log ---\n" + m.read_log()[-4000:])
        raise
    finally:
        if m.proc.poll() is None:
            m.kill9()


def _presigned_checks(m):
    s3 = client("s3", m.url)
    s3.create_bucket(Bucket="bkt")
    s3.put_bucket_versioning(Bucket="bkt", VersioningConfiguration={"Status": "Enabled"})
    odd_key = "f/é ü+(1)~!*'.txt"
    vid = s3.put_object(Bucket="bkt", Key="f/a.txt", Body=b"hello")["VersionId"]
    s3.put_object(Bucket="bkt", Key=odd_key, Body=b"odd")
    disposition = "attachment; filename=\"a.txt\"; filename*=UTF-8''a.txt"

    u = s3.generate_presigned_url("get_object", Params={
        "Bucket": "bkt", "Key": "f/a.txt", "VersionId": vid,
        "ResponseContentDisposition": disposition, "ResponseContentType": "text/plain"}, ExpiresIn=300)
    r = requests.get(u)
    check(r.status_code == 200 and r.content == b"hello" and r.headers.get("content-disposition") == disposition,
          f"presigned GET with response-content-disposition served ({r.status_code})")
    r = requests.get(u, headers={"Range": "bytes=1-2"})
    check(r.status_code == 206 and r.content == b"el", f"... with a Range header too ({r.status_code})")
    for name, bad in [("response-content-disposition stripped", without_param(u, "response-content-disposition")),
                      ("versionId stripped", without_param(u, "versionId")),
                      ("one signature character changed", with_signature_char_changed(u)),
                      ("X-Amz-Expires raised", u.replace("X-Amz-Expires=300", "X-Amz-Expires=900"))]:
        r = requests.get(bad)
        check(r.status_code == 403 and code_of(r) == "SignatureDoesNotMatch",
              f"{name}: 403 SignatureDoesNotMatch ({r.status_code} {code_of(r)})")
    r = requests.get(u, headers={"Host": "elsewhere.example:9"})
    check(r.status_code == 403, f"another Host than the signed one: 403 ({r.status_code})")

    u = s3.generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": odd_key})
    r = requests.get(u)
    check(r.status_code == 200 and r.content == b"odd", f"key with spaces, + and UTF-8 served ({r.status_code})")
    u = s3.generate_presigned_url("head_object", Params={"Bucket": "bkt", "Key": "f/a.txt"})
    check(requests.head(u).status_code == 200, "presigned HEAD served")
    check(requests.head(with_signature_char_changed(u)).status_code == 403, "tampered presigned HEAD: 403")
    u = s3.generate_presigned_url("list_object_versions", Params={"Bucket": "bkt", "Prefix": "f/"})
    check(requests.get(u).status_code == 200, "presigned bucket-level GET served")
    check(requests.get(without_param(u, "prefix")).status_code == 403, "bucket-level GET with prefix stripped: 403")

    u = s3.generate_presigned_url("get_object", Params={
        "Bucket": "bkt", "Key": "f/a.txt", "ResponseContentDisposition": disposition}, ExpiresIn=1)
    check(requests.get(u).status_code == 200, "short-lived URL served while valid")
    time.sleep(2.1)
    r = requests.get(u)
    check(r.status_code == 403 and code_of(r) == "AccessDenied" and "Request has expired" in r.text,
          f"expired URL: 403 AccessDenied, Request has expired ({r.status_code} {code_of(r)})")

    local = client("s3", m.url, "local", "local")
    u = local.generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "f/a.txt"})
    check(requests.get(u).status_code == 200, "access key local/local: served")
    check(requests.get(with_signature_char_changed(u)).status_code == 403, "access key local/local, tampered: 403")
    # Left alone, as moto does: header-signed SDK calls and presigned URLs of unknown keys.
    wrong = client("s3", m.url, "test", "not-the-secret")
    check(wrong.get_object(Bucket="bkt", Key="f/a.txt")["Body"].read() == b"hello",
          "header-signed SDK call untouched (moto accepts any secret)")
    other = client("s3", m.url, "AKIDOTHER", "whatever")
    u = other.generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "f/a.txt"})
    check(requests.get(with_signature_char_changed(u)).status_code == 200, "unknown access key: left alone as moto does")

    # A presigned part PUT binds its checksum, as GroupShare's part URLs do.
    upload = s3.create_multipart_upload(Bucket="bkt", Key="big.bin", ChecksumAlgorithm="SHA256")["UploadId"]
    part = os.urandom(64 * 1024)
    u = s3.generate_presigned_url("upload_part", Params={
        "Bucket": "bkt", "Key": "big.bin", "UploadId": upload, "PartNumber": 1,
        "ChecksumSHA256": sha256_b64(part)}, ExpiresIn=2)
    signed_headers = u.split("X-Amz-SignedHeaders=", 1)[1].split("&", 1)[0]
    if "x-amz-checksum-sha256" in signed_headers:
        r = requests.put(u, data=part)
        check(r.status_code == 403 and code_of(r) == "SignatureDoesNotMatch",
              f"part PUT without its signed checksum header: 403 ({r.status_code})")
        headers = {"x-amz-checksum-sha256": sha256_b64(part)}
    else:  # this botocore puts the checksum in the query, which is signed as well
        check("x-amz-checksum-sha256=" in u, "part URL carries its checksum")
        r = requests.put(without_param(u, "x-amz-checksum-sha256"), data=part)
        check(r.status_code == 403, f"part PUT with its checksum parameter stripped: 403 ({r.status_code})")
        headers = {}
    preflight = {"Origin": "http://localhost:5173", "Access-Control-Request-Method": "PUT",
                 "Access-Control-Request-Headers": "x-amz-checksum-sha256"}
    r = requests.options(u, headers=preflight)
    check("SignatureDoesNotMatch" not in r.text,
          f"CORS preflight (OPTIONS) of a part URL is not signature-checked ({r.status_code})")
    r = requests.put(u, data=part, headers=headers)
    check(r.status_code == 200, f"presigned part PUT stored ({r.status_code} {r.text[:200]})")
    return upload, part


# --------------------------------------------------------------------------------------------
# S3 listings


class Counters:
    """Counts deep copies and reads of stored object bytes made while a request runs, and
    records which key names' versions were read."""

    def __init__(self):
        import moto.s3.models as s3_models
        from moto.s3.utils import _VersionedKeyStore

        self.s3_models, self.store = s3_models, _VersionedKeyStore
        self.saved = (copy.deepcopy, s3_models.FakeKey.value, _VersionedKeyStore.getlist,
                      _VersionedKeyStore.__getitem__)
        self.reset()

    def reset(self):
        self.deepcopies = self.value_reads = 0
        self.visited = set()

    def __enter__(self):
        deepcopy, value, getlist, getitem = self.saved
        counters = self

        def counting_deepcopy(x, memo=None, _nil=[]):  # noqa: B006 - copy.deepcopy's signature
            if memo is None:  # the outermost call only
                counters.deepcopies += 1
            return deepcopy(x, memo, _nil)

        def counting_value(key):
            counters.value_reads += 1
            return value.fget(key)

        def recording_getlist(store, key, default=None):
            counters.visited.add(key)
            return getlist(store, key, default)

        def recording_getitem(store, key):
            counters.visited.add(key)
            return getitem(store, key)

        copy.deepcopy = counting_deepcopy
        self.s3_models.FakeKey.value = property(counting_value, value.fset)
        self.store.getlist, self.store.__getitem__ = recording_getlist, recording_getitem
        return self

    def __exit__(self, *exc):
        copy.deepcopy, value, self.store.getlist, self.store.__getitem__ = self.saved
        self.s3_models.FakeKey.value = value


@proves("s3.key-name-index")
def listings_visit_only_the_prefix():
    print("key-name-index: a listing with a prefix visits that prefix's keys only")
    url()
    s3 = client("s3")
    s3.create_bucket(Bucket="big")
    s3.put_bucket_versioning(Bucket="big", VersioningConfiguration={"Status": "Enabled"})
    for i in range(300):
        s3.put_object(Bucket="big", Key=f"other/{i:04d}", Body=os.urandom(4096))
    s3.put_object(Bucket="big", Key="other/0000", Body=b"second version")
    s3.delete_object(Bucket="big", Key="other/0001")
    ids = [s3.put_object(Bucket="big", Key="files/a", Body=f"v{n}".encode())["VersionId"] for n in range(3)]
    stored = s3_backend().buckets["big"].keys.getlist("files/a")
    for v in stored:  # one millisecond for all three: the newest must still come first
        v.last_modified = stored[0].last_modified
    s3.put_object(Bucket="big", Key="files/b", Body=b"b")
    marker = s3.delete_object(Bucket="big", Key="files/b")["VersionId"]
    s3.put_object(Bucket="big", Key="filesX", Body=b"outside the prefix")

    with Counters() as counters:
        listing = s3.list_object_versions(Bucket="big", Prefix="files/")
        copies, reads, visited = counters.deepcopies, counters.value_reads, counters.visited
        counters.reset()
        pages, marker_args = [], {}
        while True:  # two entries a page
            page = s3.list_object_versions(Bucket="big", Prefix="files/", MaxKeys=2, **marker_args)
            pages.append(page)
            if not page["IsTruncated"] or len(pages) > 5:
                break
            marker_args = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
        everything = s3.list_object_versions(Bucket="big", Prefix="other/000")
        counters.reset()
        v2 = s3.list_objects_v2(Bucket="big", Prefix="files/")
        v2_visited, v2_reads = counters.visited, counters.value_reads

    versions = [(v["Key"], v["VersionId"], v["IsLatest"]) for v in listing["Versions"]]
    check(versions == [("files/a", ids[2], True), ("files/a", ids[1], False),
                       ("files/a", ids[0], False), ("files/b", versions[3][1], False)],
          "versions of the prefix, newest first, IsLatest on the newest")
    markers = [(d["Key"], d["VersionId"], d["IsLatest"]) for d in listing["DeleteMarkers"]]
    check(markers == [("files/b", marker, True)], "the prefix's delete marker, latest")
    paged = [(v["Key"], v["VersionId"]) for p in pages for v in p.get("Versions", []) + p.get("DeleteMarkers", [])]
    whole = [(k, v) for k, v, _ in versions + markers]
    check(len(pages) == 3 and sorted(paged) == sorted(whole) and len(paged) == len(whole),
          f"paging with KeyMarker/VersionIdMarker lists each entry once ({len(pages)} pages)")
    other = [(v["Key"], v["IsLatest"]) for v in everything["Versions"]]
    check(len(other) == 11 and other[:2] == [("other/0000", True), ("other/0000", False)]
          and len(everything["DeleteMarkers"]) == 1, f"another prefix lists its own versions and marker ({len(other)})")
    check(visited == {"files/a", "files/b"}, f"ListObjectVersions visits the prefix's keys only ({len(visited)} names)")
    check(copies == 0 and reads == 0, f"... copies no object and reads no object's bytes (deep copies: {copies}, "
          f"object bytes read: {reads})")
    check([o["Key"] for o in v2.get("Contents", [])] == ["files/a"] and v2_visited == {"files/a", "files/b"}
          and v2_reads == 0, f"ListObjectsV2 with a prefix visits the prefix's keys only ({len(v2_visited)} names)")
    bucket = s3_backend().buckets["big"]
    check(not any(getattr(v, "is_latest", None) is False for v in bucket.keys.getlist("files/a")),
          "stored versions are not modified by a listing")


def _version_listing(out):
    versions, prefixes, markers, next_key, next_version = out
    return ([(v.name, v.version_id, v.is_latest) for v in versions], prefixes,
            [(d.name, d.version_id, d.is_latest) for d in markers], next_key, next_version)


def _object_listing(out):
    keys, folders, truncated, marker = out
    return [k.name for k in keys], list(folders), truncated, marker


@proves("s3.key-name-index")
def listings_same_as_moto():
    print("key-name-index: random writes and listings, every page as moto's own listing has it")
    import datetime

    import moto.s3.models as s3_models

    url()
    s3 = client("s3")
    backend = s3_backend()
    if "S3Backend.list_objects" not in moto_patches.ORIGINAL:
        print("  skipped: the patch is off, there is nothing to compare moto's listings with")
        return
    own_versions = moto_patches.ORIGINAL["S3Backend.list_object_versions"]
    own_objects = moto_patches.ORIGINAL["S3Backend.list_objects"]
    rng = random.Random(7)
    names = [a + b + c for a in ("a", "a/", "b/", "ab") for b in ("", "x", "x/", "y/z") for c in ("", "1", "2/")]
    clock = datetime.datetime(2026, 1, 1)
    s3.create_bucket(Bucket="bkt")
    s3.put_bucket_versioning(Bucket="bkt", VersioningConfiguration={"Status": "Enabled"})
    store = backend.buckets["bkt"].keys
    compared = 0
    for step in range(300):
        key = rng.choice(names)
        if rng.random() < 0.75:
            s3.put_object(Bucket="bkt", Key=key, Body=b"x")
        else:
            versions = store.getlist(key, [])
            if versions and rng.random() < 0.5:  # delete one version: the name may go
                s3.delete_object(Bucket="bkt", Key=key, VersionId=rng.choice(versions).version_id)
            else:
                s3.delete_object(Bucket="bkt", Key=key)
        for v in store.getlist(key, []):  # distinct times, as moto's sort needs to be stable
            if getattr(v, "_stamped", False) is False:
                clock += datetime.timedelta(milliseconds=1)
                v.last_modified, v._stamped = clock, True
        if step % 20:
            continue
        for _ in range(6):
            prefix = rng.choice(["", "a", "a/", "ab", "b/", "b/x", "a/y/", "zz"])
            delimiter = rng.choice([None, "/"])
            max_keys = rng.choice([2, 3, 5, 1000])
            args = dict(delimiter=delimiter, key_marker=None, max_keys=max_keys, prefix=prefix, version_id_marker=None)
            for _ in range(200):
                mine = _version_listing(s3_models.S3Backend.list_object_versions(backend, "bkt", **args))
                theirs = _version_listing(own_versions(backend, "bkt", **args))
                if mine != theirs:
                    raise AssertionError(f"{args}:\n patched {mine}\n moto    {theirs}")
                compared += 1
                if mine[3] is None:
                    break
                args.update(key_marker=mine[3], version_id_marker=mine[4])
            marker = None
            for _ in range(200):
                bucket = backend.get_bucket("bkt")
                mine = _object_listing(s3_models.S3Backend.list_objects(backend, bucket, prefix, delimiter, marker, max_keys))
                theirs = _object_listing(own_objects(backend, bucket, prefix, delimiter, marker, max_keys))
                if mine != theirs:
                    raise AssertionError(f"{prefix!r} {delimiter!r} {marker!r}:\n patched {mine}\n moto    {theirs}")
                compared += 1
                if not mine[2]:
                    break
                marker = mine[3]
    # moto adds names with setlist; an assignment or a dict update must keep the index right too.
    some = store.getlist(next(iter(dict.keys(store))))[-1]
    store["zz/assigned"] = some
    assigned = moto_patches._names_under(store, "zz/")
    store.update({"zz/updated": [some]})
    check(assigned == ["zz/assigned"] and moto_patches._names_under(store, "zz/") == ["zz/assigned", "zz/updated"]
          and moto_patches._sorted_names(store) == sorted(dict.keys(store)),
          f"the sorted name index matches the bucket ({len(store)} names)")
    check(compared > 300, f"{compared} version and object listing pages (prefixes, delimiter, paging) "
          "identical to moto's")


@proves("s3.ranged-part-copy")
def ranged_part_copy():
    print("ranged-part-copy: UploadPartCopy reads its range of the source only")
    url()
    s3 = client("s3")
    s3.create_bucket(Bucket="copies")
    s3.put_bucket_versioning(Bucket="copies", VersioningConfiguration={"Status": "Enabled"})
    data = os.urandom(11 * 1024 * 1024)
    version = s3.put_object(Bucket="copies", Key="src", Body=data)["VersionId"]
    s3.put_object(Bucket="copies", Key="src", Body=b"a later version")
    upload = s3.create_multipart_upload(Bucket="copies", Key="dst", ChecksumAlgorithm="SHA256")["UploadId"]
    ranges = [(0, 5 * 1024 * 1024 - 1), (5 * 1024 * 1024, len(data) - 1)]
    with Counters() as counters:
        for n, (first, last) in enumerate(ranges, 1):
            s3.upload_part_copy(Bucket="copies", Key="dst", UploadId=upload, PartNumber=n,
                                CopySource={"Bucket": "copies", "Key": "src", "VersionId": version},
                                CopySourceRange=f"bytes={first}-{last}")
        reads = counters.value_reads
    listed = s3.list_parts(Bucket="copies", Key="dst", UploadId=upload)["Parts"]
    check([p["ChecksumSHA256"] for p in listed]
          == [sha256_b64(data[a:b + 1]) for a, b in ranges], "each part is its range of that version")
    s3.complete_multipart_upload(Bucket="copies", Key="dst", UploadId=upload, MultipartUpload={"Parts": [
        {"PartNumber": p["PartNumber"], "ETag": p["ETag"], "ChecksumSHA256": p["ChecksumSHA256"]}
        for p in listed]})
    check(s3.get_object(Bucket="copies", Key="dst")["Body"].read() == data, "the copy is byte-exact")
    check(reads == 0, f"no whole source read per part ({reads} reads)")


# --------------------------------------------------------------------------------------------


@proves("server.dispatch-cache")
def dispatch_reads_no_files():
    """Every call on the push path (and every other) paid for a directory listing and a class
    walk before moto looked at it; it still reaches the same handler and answer."""
    import inspect

    url()
    ddb = client("dynamodb")
    create_table(ddb, "dispatch", [("pk", "S")])
    counts = {"listdir": 0, "getmembers": 0}
    listdir, getmembers = os.listdir, inspect.getmembers

    def counting(name, fn):
        def counted(*args, **kwargs):
            counts[name] += 1
            return fn(*args, **kwargs)
        return counted

    os.listdir, inspect.getmembers = counting("listdir", listdir), counting("getmembers", getmembers)
    try:
        for i in range(3):
            ddb.put_item(TableName="dispatch", Item={"pk": {"S": f"k{i}"}})
        got = ddb.get_item(TableName="dispatch", Key={"pk": {"S": "k1"}})
        missing = error_code(lambda: ddb.get_item(TableName="nope", Key={"pk": {"S": "k"}}))
    finally:
        os.listdir, inspect.getmembers = listdir, getmembers
    check(got["Item"] == {"pk": {"S": "k1"}}, f"the item as stored: {got}")
    check(missing == "ResourceNotFoundException", f"a missing table as before: {missing}")
    check(counts == {"listdir": 0, "getmembers": 0}, f"moto's files read per request: {counts}")


def run(names):
    failed = []
    for name in names:
        try:
            TESTS[name][0]()
        except Exception as e:  # noqa: BLE001 - reported, then the run fails
            print(f"  FAILED: {name}: {type(e).__name__}: {str(e)[:2000]}")
            failed.append(name)
    return failed


def prove(patches):
    """Each patch left out in turn: the tests that name it must fail. The runs are processes of
    their own (moto on a free port each), so they go as many at a time as there are cores."""
    def without(patch):
        tests = [n for n, (_, ps) in TESTS.items() if patch in ps]
        env = dict(os.environ, MOTO_PATCHES_OFF=patch)
        r = subprocess.run([sys.executable, __file__, *tests], env=env, capture_output=True, text=True)
        return patch, tests, r

    unproved = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        runs = list(pool.map(without, patches))
    for patch, tests, r in runs:
        lines = [line for line in r.stdout.splitlines() if "FAILED" in line]
        if r.returncode == 0 or not tests:
            unproved.append(patch)
        print(f"without {patch}: {'fails, as it must' if r.returncode else 'PASSES (no proof)'}"
              f" ({', '.join(tests) or 'no test'})")
        for line in lines:
            print("   " + line.strip()[:300])
    return unproved


def main(args):
    if args[:1] == ["--prove"]:
        # The proofs (other processes) run while this one runs every test with every patch.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as side:
            proving = side.submit(prove, args[1:] or list(moto_patches.PATCHES))
            failed = run(list(TESTS))
            unproved = proving.result()
        if failed or unproved:
            sys.exit(f"FAILED: {failed} unproved: {unproved}")
    else:
        failed = run(args or list(TESTS))
        if failed:
            sys.exit(f"FAILED: {failed}")
    print("PASS")


if __name__ == "__main__":
    main(sys.argv[1:])
