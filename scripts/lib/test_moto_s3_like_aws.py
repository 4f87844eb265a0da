"""Proves two of moto_s3_like_aws.py's S3 behaviours on moto_server.py.

1. Presigned URLs (signature in the query) are checked as S3 checks them: a signed parameter
   stripped, a header left out or one signature character changed gets 403
   SignatureDoesNotMatch; an expired URL 403 AccessDenied; header-signed SDK calls and unknown
   access keys are left alone; a presigned part PUT journaled live replays after its URL expired.
2. ListObjectVersions with a prefix visits only that prefix's versions and copies no object.

Run: .local/venv-aws/bin/python scripts/lib/test_moto_s3_like_aws.py [presigned] [listing]
Loopback only; takes a few seconds.
"""

import base64
import copy
import hashlib
import logging
import os
import shutil
import sys
import tempfile
import threading
import time

import boto3
import requests
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from test_moto_durability import Moto, check  # noqa: E402

BUCKET = "files"


def sha256_b64(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def client(url, key, secret):
    cfg = Config(retries={"max_attempts": 1}, signature_version="s3v4",
                 s3={"addressing_style": "path"})
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, config=cfg)


def code_of(r):
    text = r.text
    return text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else ""


def without_param(url, name):
    base, query = url.split("?", 1)
    kept = [p for p in query.split("&") if p.split("=", 1)[0] != name]
    assert len(kept) < len(query.split("&")), f"{name} not in {url}"
    return base + "?" + "&".join(kept)


def with_signature_char_changed(url):
    i = url.index("X-Amz-Signature=") + len("X-Amz-Signature=") + 5
    return url[:i] + ("0" if url[i] != "0" else "1") + url[i + 1:]


def presigned_urls(m):
    print("1. presigned URLs are verified as S3 verifies them")
    s3 = client(m.url, "test", "test")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    odd_key = "f/é ü+(1)~!*'.txt"
    vid = s3.put_object(Bucket=BUCKET, Key="f/a.txt", Body=b"hello")["VersionId"]
    s3.put_object(Bucket=BUCKET, Key=odd_key, Body=b"odd")
    disposition = "attachment; filename=\"a.txt\"; filename*=UTF-8''a.txt"

    url = s3.generate_presigned_url("get_object", Params={
        "Bucket": BUCKET, "Key": "f/a.txt", "VersionId": vid,
        "ResponseContentDisposition": disposition, "ResponseContentType": "text/plain"},
        ExpiresIn=300)
    r = requests.get(url)
    check(r.status_code == 200 and r.content == b"hello"
          and r.headers.get("content-disposition") == disposition,
          f"presigned GET with response-content-disposition served ({r.status_code})")
    r = requests.get(url, headers={"Range": "bytes=1-2"})
    check(r.status_code == 206 and r.content == b"el", f"... with a Range header too ({r.status_code})")

    for name, bad in [("response-content-disposition stripped",
                       without_param(url, "response-content-disposition")),
                      ("versionId stripped", without_param(url, "versionId")),
                      ("one signature character changed", with_signature_char_changed(url)),
                      ("X-Amz-Expires raised", url.replace("X-Amz-Expires=300", "X-Amz-Expires=900"))]:
        r = requests.get(bad)
        check(r.status_code == 403 and code_of(r) == "SignatureDoesNotMatch",
              f"{name}: 403 SignatureDoesNotMatch ({r.status_code} {code_of(r)})")
    r = requests.get(url, headers={"Host": "elsewhere.example:9"})
    check(r.status_code == 403, f"another Host than the signed one: 403 ({r.status_code})")

    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": odd_key})
    r = requests.get(url)
    check(r.status_code == 200 and r.content == b"odd", f"key with spaces, + and UTF-8 served ({r.status_code})")
    url = s3.generate_presigned_url("head_object", Params={"Bucket": BUCKET, "Key": "f/a.txt"})
    check(requests.head(url).status_code == 200, "presigned HEAD served")
    check(requests.head(with_signature_char_changed(url)).status_code == 403, "tampered presigned HEAD: 403")
    url = s3.generate_presigned_url("list_object_versions", Params={"Bucket": BUCKET, "Prefix": "f/"})
    check(requests.get(url).status_code == 200, "presigned bucket-level GET served")
    check(requests.get(without_param(url, "prefix")).status_code == 403,
          "bucket-level GET with prefix stripped: 403")

    url = s3.generate_presigned_url("get_object", Params={
        "Bucket": BUCKET, "Key": "f/a.txt", "ResponseContentDisposition": disposition}, ExpiresIn=1)
    check(requests.get(url).status_code == 200, "short-lived URL served while valid")
    time.sleep(2.1)
    r = requests.get(url)
    check(r.status_code == 403 and code_of(r) == "AccessDenied" and "Request has expired" in r.text,
          f"expired URL: 403 AccessDenied, Request has expired ({r.status_code} {code_of(r)})")

    local = client(m.url, "local", "local")
    url = local.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "f/a.txt"})
    check(requests.get(url).status_code == 200, "access key local/local: served")
    check(requests.get(with_signature_char_changed(url)).status_code == 403,
          "access key local/local, tampered: 403")

    # Left alone, as moto does: header-signed SDK calls (moto checks no Authorization header)
    # and presigned URLs of access keys the table does not know.
    wrong = client(m.url, "test", "not-the-secret")
    check(wrong.get_object(Bucket=BUCKET, Key="f/a.txt")["Body"].read() == b"hello",
          "header-signed SDK call untouched (moto accepts any secret)")
    other = client(m.url, "AKIDOTHER", "whatever")
    url = other.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "f/a.txt"})
    check(requests.get(with_signature_char_changed(url)).status_code == 200,
          "unknown access key: left alone as moto does")

    # A presigned part PUT binds its checksum header, as GroupShare's part URLs do.
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="big.bin", ChecksumAlgorithm="SHA256")["UploadId"]
    part = os.urandom(64 * 1024)
    url = s3.generate_presigned_url("upload_part", Params={
        "Bucket": BUCKET, "Key": "big.bin", "UploadId": upload, "PartNumber": 1,
        "ChecksumSHA256": sha256_b64(part)}, ExpiresIn=2)
    signed_headers = url.split("X-Amz-SignedHeaders=", 1)[1].split("&", 1)[0]
    if "x-amz-checksum-sha256" in signed_headers:
        r = requests.put(url, data=part)
        check(r.status_code == 403 and code_of(r) == "SignatureDoesNotMatch",
              f"part PUT without its signed checksum header: 403 ({r.status_code})")
        headers = {"x-amz-checksum-sha256": sha256_b64(part)}
    else:  # this botocore puts the checksum in the query, which is signed as well
        check("x-amz-checksum-sha256=" in url, "part URL carries its checksum")
        r = requests.put(without_param(url, "x-amz-checksum-sha256"), data=part)
        check(r.status_code == 403, f"part PUT with its checksum parameter stripped: 403 ({r.status_code})")
        headers = {}
    preflight = {"Origin": "http://localhost:5173", "Access-Control-Request-Method": "PUT",
                 "Access-Control-Request-Headers": "x-amz-checksum-sha256"}
    r = requests.options(url, headers=preflight)
    check("SignatureDoesNotMatch" not in r.text,
          f"CORS preflight (OPTIONS) of a part URL is not signature-checked ({r.status_code})")
    r = requests.put(url, data=part, headers=headers)
    check(r.status_code == 200, f"presigned part PUT stored ({r.status_code} {r.text[:200]})")
    return upload, part


def replay_after_expiry(data, m, upload, part):
    print("2. a journaled presigned part PUT replays after its URL expired")
    m.kill9()
    time.sleep(2.1)  # the part URL (ExpiresIn=2) has expired by the replay
    m = Moto(data)
    parts = client(m.url, "test", "test").list_parts(Bucket=BUCKET, Key="big.bin", UploadId=upload).get("Parts", [])
    check([(p["PartNumber"], p.get("ChecksumSHA256")) for p in parts] == [(1, sha256_b64(part))],
          "the part survived the restart")
    check("did not replay identically" not in m.read_log(), "no replay mismatches logged")
    m.kill9()


# --------------------------------------------------------------------------------------------


class Counters:
    """Counts deep copies and reads of stored object bytes made while a request runs, and
    records which key names' version lists were read."""

    def __init__(self, s3_models):
        from moto.s3.utils import _VersionedKeyStore

        self.deepcopies = self.value_reads = 0
        self.visited = set()
        self.s3_models, self.store = s3_models, _VersionedKeyStore
        self.original_deepcopy = copy.deepcopy
        self.original_value = s3_models.FakeKey.value
        self.original_getlist = _VersionedKeyStore.getlist

    def install(self):
        counters, original_deepcopy, original_value = self, self.original_deepcopy, self.original_value
        original_getlist = self.original_getlist

        def recording_getlist(store, key, default=None):
            counters.visited.add(key)
            return original_getlist(store, key, default)

        def counting_deepcopy(x, memo=None, _nil=[]):  # noqa: B006 - copy.deepcopy's signature
            if memo is None:  # the outermost call only
                counters.deepcopies += 1
            return original_deepcopy(x, memo, _nil)

        def counting_value(key):
            counters.value_reads += 1
            return original_value.fget(key)

        copy.deepcopy = counting_deepcopy
        self.s3_models.FakeKey.value = property(counting_value, original_value.fset)
        self.store.getlist = recording_getlist

    def reset(self):
        self.deepcopies = self.value_reads = 0
        self.visited = set()

    def uninstall(self):
        copy.deepcopy = self.original_deepcopy
        self.s3_models.FakeKey.value = self.original_value
        self.store.getlist = self.original_getlist


def listing_visits_only_the_prefix():
    print("3. ListObjectVersions with a prefix visits only that prefix's versions")
    # In process, so the counters see moto's work: moto's server app with the same patches
    # moto_server.py installs.
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication, MotoRequestHandler, create_backend_app)
    from werkzeug.serving import make_server

    import moto.s3.models as s3_models
    import moto_memory
    import moto_s3_like_aws
    import moto_streams
    import moto_transactions

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_memory.install()
    moto_s3_like_aws.install()
    moto_transactions.install()
    moto_streams.install()
    server = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app),
                         threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    s3 = client(url, "test", "test")
    try:
        s3.create_bucket(Bucket="big")
        s3.put_bucket_versioning(Bucket="big", VersioningConfiguration={"Status": "Enabled"})
        for i in range(300):
            s3.put_object(Bucket="big", Key=f"other/{i:04d}", Body=os.urandom(4096))
        s3.put_object(Bucket="big", Key="other/0000", Body=b"second version")
        s3.delete_object(Bucket="big", Key="other/0001")
        ids = [s3.put_object(Bucket="big", Key="files/a", Body=f"v{n}".encode())["VersionId"]
               for n in range(3)]
        s3.put_object(Bucket="big", Key="files/b", Body=b"b")
        marker = s3.delete_object(Bucket="big", Key="files/b")["VersionId"]
        s3.put_object(Bucket="big", Key="filesX", Body=b"outside the prefix")

        counters = Counters(s3_models)
        counters.install()
        try:
            listing = s3.list_object_versions(Bucket="big", Prefix="files/")
            copies, reads, visited = counters.deepcopies, counters.value_reads, counters.visited
            counters.reset()
            pages, marker_args = [], {}
            while True:  # two entries a page
                page = s3.list_object_versions(Bucket="big", Prefix="files/", MaxKeys=2, **marker_args)
                pages.append(page)
                if not page["IsTruncated"] or len(pages) > 5:
                    break
                marker_args = {"KeyMarker": page["NextKeyMarker"],
                               "VersionIdMarker": page["NextVersionIdMarker"]}
            everything = s3.list_object_versions(Bucket="big", Prefix="other/000")
        finally:
            counters.uninstall()

        versions = [(v["Key"], v["VersionId"], v["IsLatest"]) for v in listing["Versions"]]
        check(versions == [("files/a", ids[2], True), ("files/a", ids[1], False),
                           ("files/a", ids[0], False), ("files/b", versions[3][1], False)],
              "versions of the prefix, newest first, IsLatest on the newest")
        markers = [(d["Key"], d["VersionId"], d["IsLatest"]) for d in listing["DeleteMarkers"]]
        check(markers == [("files/b", marker, True)], "the prefix's delete marker, latest")
        paged = [(v["Key"], v["VersionId"]) for p in pages
                 for v in p.get("Versions", []) + p.get("DeleteMarkers", [])]
        whole = [(k, v) for k, v, _ in versions + markers]
        check(len(pages) == 3 and sorted(paged) == sorted(whole) and len(paged) == len(whole),
              f"paging with KeyMarker/VersionIdMarker lists each entry once ({len(pages)} pages)")
        other = [(v["Key"], v["IsLatest"]) for v in everything["Versions"]]
        check(len(other) == 11 and other[:2] == [("other/0000", True), ("other/0000", False)]
              and len(everything["DeleteMarkers"]) == 1,
              f"another prefix lists its own versions and marker ({len(other)})")
        check(visited == {"files/a", "files/b"},
              f"only the prefix's keys are visited ({len(visited)} key names visited)")
        check(copies == 0 and reads == 0,
              f"listing 4 keys of a 303-key bucket copies no object and reads no object's bytes "
              f"(deep copies: {copies}, object bytes read: {reads})")
        # The live objects are not marked by a listing: IsLatest is the listing's, not stored.
        bucket = s3_models.s3_backends["123456789012"]["aws"].buckets["big"]
        check(not any(getattr(v, "is_latest", None) is False for v in bucket.keys.getlist("files/a")),
              "stored versions are not modified by a listing")
    finally:
        server.shutdown()


def main(parts):
    data = tempfile.mkdtemp(prefix="moto-s3-like-aws-")
    m = None
    try:
        if "presigned" in parts:
            m = Moto(data)
            upload, part = presigned_urls(m)
            replay_after_expiry(data, m, upload, part)
            m = None
        if "listing" in parts:
            listing_visits_only_the_prefix()
        print("PASS")
    except BaseException:
        if m is not None:
            print("--- last server log ---\n" + m.read_log()[-4000:])
        raise
    finally:
        if m is not None and m.proc.poll() is None:
            m.kill9()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["presigned", "listing"])
