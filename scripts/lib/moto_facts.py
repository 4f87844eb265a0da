"""Answers questions about moto 5.2.x server-mode behaviour, by asking it.

Run: .local/venv-aws/bin/python scripts/lib/moto_facts.py   (loopback only, a few seconds)
"""

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))


def b64sha(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def main():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "moto_server.py"), "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(url + "/moto-api/", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
              aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}))
    s3, ddb, sqs = (boto3.client(n, **kw) for n in ("s3", "dynamodb", "sqs"))
    streams = boto3.client("dynamodbstreams", **kw)
    try:
        print("== a. presigned POST on a versioned bucket")
        s3.create_bucket(Bucket="facts")
        s3.put_bucket_versioning(Bucket="facts", VersioningConfiguration={"Status": "Enabled"})

        def post(key, body, checksum, max_len=1000):
            p = s3.generate_presigned_post("facts", key, Fields={"x-amz-checksum-sha256": checksum},
                                           Conditions=[{"x-amz-checksum-sha256": checksum},
                                                       ["content-length-range", 1, max_len]],
                                           ExpiresIn=60)
            return requests.post(p["url"], data=p["fields"], files={"file": (key, body)})

        r = post("a.txt", b"hello", b64sha(b"hello"))
        print("POST status", r.status_code, "x-amz-version-id:", r.headers.get("x-amz-version-id"),
              "ETag:", r.headers.get("ETag"))
        h = s3.head_object(Bucket="facts", Key="a.txt", ChecksumMode="ENABLED")
        print("HEAD VersionId:", h.get("VersionId"), "ChecksumSHA256:", h.get("ChecksumSHA256"))
        r = post("bad.txt", b"hello", b64sha(b"other"))
        print("POST with wrong x-amz-checksum-sha256:", r.status_code, r.text[:200] or "(empty body)")
        r = post("big.txt", b"x" * 5000, b64sha(b"x" * 5000), max_len=1000)
        print("POST over content-length-range max 1000 (5000 bytes):", r.status_code, r.text[:200] or "(empty body)")
        r = requests.post(url + "/facts", data={"key": "nosig.txt"}, files={"file": ("f", b"no policy")})
        print("POST with no policy/signature at all:", r.status_code)

        print("== b. presigned GET with VersionId after a newer version; DeleteObject VersionId")
        old = s3.put_object(Bucket="facts", Key="v.txt", Body=b"old")["VersionId"]
        new = s3.put_object(Bucket="facts", Key="v.txt", Body=b"new")["VersionId"]
        u = s3.generate_presigned_url("get_object", Params={
            "Bucket": "facts", "Key": "v.txt", "VersionId": old,
            "ResponseContentDisposition": 'attachment; filename="old.txt"'}, ExpiresIn=60)
        r = requests.get(u)
        print("presigned GET old version:", r.status_code, r.content, "Content-Disposition:",
              r.headers.get("Content-Disposition"), "version header == old:", r.headers.get("x-amz-version-id") == old)
        s3.delete_object(Bucket="facts", Key="v.txt", VersionId=old)
        left = s3.list_object_versions(Bucket="facts", Prefix="v.txt")
        print("after DeleteObject(VersionId=old): versions", [v["VersionId"] == new for v in left["Versions"]],
              "delete markers", len(left.get("DeleteMarkers", [])),
              "current body", s3.get_object(Bucket="facts", Key="v.txt")["Body"].read())

        print("== c. S3 -> SQS notifications")
        q = sqs.create_queue(QueueName="s3-events")["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.create_bucket(Bucket="notified")
        s3.put_bucket_versioning(Bucket="notified", VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_notification_configuration(Bucket="notified", NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": qarn, "Events": ["s3:ObjectCreated:*"]}]})
        print("GetBucketNotificationConfiguration:",
              s3.get_bucket_notification_configuration(Bucket="notified").get("QueueConfigurations"))
        s3.put_object(Bucket="notified", Key="put.txt", Body=b"put")
        p = s3.generate_presigned_post("notified", "post.txt")
        requests.post(p["url"], data=p["fields"], files={"file": ("post.txt", b"post body")})
        mp = s3.create_multipart_upload(Bucket="notified", Key="multi.bin")
        part = s3.upload_part(Bucket="notified", Key="multi.bin", UploadId=mp["UploadId"], PartNumber=1,
                              Body=b"m" * (5 * 1024 * 1024))
        s3.complete_multipart_upload(Bucket="notified", Key="multi.bin", UploadId=mp["UploadId"],
                                     MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
        msgs = []
        while True:
            got = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            if not got:
                break
            msgs += got
        print(len(msgs), "messages")
        for m in msgs:
            body = json.loads(m["Body"])
            for rec in body.get("Records", []):
                o = rec["s3"]["object"]
                print("  ", rec["eventName"], o.get("key"), "size", o.get("size"), "versionId",
                      o.get("versionId"), "eTag", o.get("eTag"))
            if "Records" not in body:
                print("   non-record message:", m["Body"][:200])
        records = [m["Body"] for m in msgs if "Records" in m["Body"]]
        if records:
            print("a full message body:", records[0])

        print("== d. TransactWriteItems ReturnValuesOnConditionCheckFailure=ALL_OLD")
        ddb.create_table(TableName="facts", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        ddb.put_item(TableName="facts", Item={"pk": {"S": "a"}, "n": {"N": "5"}})
        try:
            ddb.transact_write_items(TransactItems=[
                {"Update": {"TableName": "facts", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET n = :z",
                            "ConditionExpression": "n = :z", "ExpressionAttributeValues": {":z": {"N": "0"}},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
                {"Put": {"TableName": "facts", "Item": {"pk": {"S": "b"}}}}])
        except ClientError as e:
            print("CancellationReasons:", e.response.get("CancellationReasons"))

        print("== e. DynamoDB Streams")
        ddb.put_item(TableName="facts", Item={"pk": {"S": "c"}})
        arn = ddb.describe_table(TableName="facts")["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        recs = streams.get_records(ShardIterator=it)["Records"]
        print("stream records:", [(r["eventName"], r["dynamodb"]["Keys"]) for r in recs])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


if __name__ == "__main__":
    main()
