"""Write-ahead journal that makes moto's in-memory DynamoDB and S3 survive `kill -9`.

moto keeps everything in process memory. The local stack must keep what it acknowledged, so
every mutating request that moto answered with a 2xx is appended to a journal and fsync'ed
*before* the response goes back to the client (moto_server.py holds one global lock around each
request, so the journal order is the order moto applied the requests). On startup the journal
is replayed, request by request, through the same WSGI app into a fresh moto backend.

Pinned to moto 5.2.x (checked against 5.2.5); the moto internals this relies on are:

* `moto.moto_api._internal.mock_random`: every random id moto hands out (S3 version ids,
  delete-marker ids, multipart upload ids, ...) comes from this one `random.Random`. Before a
  journaled request runs we seed it with a fresh random seed and record that seed, so replaying
  the request on the same state draws the same ids: version ids that our DynamoDB records pin
  come back identical. Replay checks the `x-amz-version-id` answer against the recorded one.
* `utcnow` imported into `moto.s3.models`: frozen to the recorded time for the request, live
  and on replay, so LastModified survives too (and a presigned URL replays after expiry).
  DynamoDB's clock is not frozen: only table and stream creation times read it, and nothing
  relies on those across a restart (the stream pump starts at LATEST).
* Replay sends no bucket notification anywhere: SQS is not journaled, so no queue exists yet
  while the journal replays (moto drops a notification to a missing queue).
* Compaction reads `dynamodb_backends[...].tables` and `s3_backends[...].buckets` (Table and
  FakeKey attributes) to write a snapshot; see `Compactor`.

Journal file (`DATA_DIR/journal`): a sequence of records, each
    b"MJR1" | u32 big-endian payload length | u32 big-endian crc32(payload) | payload
where payload is UTF-8 JSON:
    {"svc": "s3"|"dynamodb"|"moto_api", "time": ISO-8601 UTC, "seed": int,
     "env": {WSGI environ str entries: method, path, query, headers ...},
     "body": base64 (small bodies) | "blob": sha256 hex (bodies > INLINE_MAX),
     "status": int, "vid": x-amz-version-id answered or null, "fix": optional (snapshots)}
Big bodies live in `DATA_DIR/blobs/ab/<sha256>`, content-addressed, written + fsynced before the
record that names them, so the journal stays small. A torn or corrupt record (crash mid-append)
ends the journal: startup keeps everything before it, saves the tail aside and truncates.

Signatures are not a concern for replay: moto's server does not verify header signatures or POST
policy expiry unless auth is switched on (INITIAL_NO_AUTH_ACTION_COUNT), and the presigned-URL
check of moto_patches.py reads moto's S3 clock, which `frozen_request` sets to the recorded
time, so a request recorded with a presigned URL or POST form replays fine after it expired
(test_moto_durability.py and test_moto_patches.py presigned prove it).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import json
import logging
import os
import struct
import sys
import time
import zlib
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import moto
import moto.core.utils
import moto.s3.models as s3_models_module
from moto.dynamodb.models import dynamodb_backends
from moto.moto_api._internal import mock_random
from moto.moto_api._internal.models import moto_api_backend
from moto.s3.models import FakeDeleteMarker, s3_backends

log = logging.getLogger("moto_journal")

MAGIC = b"MJR1"
HEADER = struct.Struct(">4sII")
INLINE_MAX = 8 * 1024  # bodies above this go to blobs/
MAX_RECORD = 64 * 1024 * 1024  # sanity bound when reading a length prefix

# DynamoDB operations that never change state. Anything not listed is journaled, so a mutating
# operation this list does not know about (e.g. a new API) errs on the side of being kept.
DYNAMODB_READ_ONLY = {
    "BatchGetItem", "DescribeBackup", "DescribeContinuousBackups", "DescribeContributorInsights",
    "DescribeEndpoints", "DescribeExport", "DescribeGlobalTable", "DescribeGlobalTableSettings",
    "DescribeImport", "DescribeKinesisStreamingDestination", "DescribeLimits", "DescribeTable",
    "DescribeTableReplicaAutoScaling", "DescribeTimeToLive", "GetItem", "GetResourcePolicy",
    "ListBackups", "ListContributorInsights", "ListExports", "ListGlobalTables", "ListImports",
    "ListTables", "ListTagsOfResource", "Query", "Scan", "TransactGetItems",
}

# WSGI environ entries that describe the request (everything else is per-connection plumbing).
ENV_KEYS = {
    "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE",
    "CONTENT_LENGTH", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REQUEST_URI", "RAW_URI",
    "wsgi.url_scheme", "moto.preserved_header_names",
}



class JournalError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# Request plumbing


def buffer_request(environ: dict[str, Any]) -> bytes:
    """Reads the whole body and rewrites `environ` to a plain Content-Length request.

    The live request and its replay must look identical to moto, so both get the body as a
    BytesIO with an exact CONTENT_LENGTH (chunked uploads are de-chunked by werkzeug already;
    aws-chunked bodies stay encoded and moto decodes them the same way both times).
    """
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = stream.read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["wsgi.input_terminated"] = False
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    if body or environ.get("CONTENT_LENGTH"):
        environ["CONTENT_LENGTH"] = str(len(body))
    return body


def recorded_env(environ: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in environ.items() if k in ENV_KEYS or k.startswith("HTTP_")}


def replay_environ(env: dict[str, Any], body: bytes) -> dict[str, Any]:
    environ = dict(env)
    environ.update({
        "wsgi.version": (1, 0),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": False,
        "REMOTE_ADDR": "127.0.0.1",
    })
    environ.setdefault("moto.preserved_header_names", {})
    return environ


def call_app(app: Callable, environ: dict[str, Any]) -> tuple[str, list, list[bytes]]:
    """Runs the WSGI app to completion; returns (status, headers, body chunks)."""
    captured: dict[str, Any] = {}
    written: list[bytes] = []

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"], captured["exc_info"] = status, headers, exc_info
        return written.append

    result = app(environ, start_response)
    try:
        chunks = written + list(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return captured["status"], captured["headers"], chunks


def header(headers: list, name: str) -> str | None:
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


@contextmanager
def frozen_request(seed: int, when: datetime.datetime) -> Iterator[None]:
    """Makes one request deterministic: seeded ids, clock fixed to `when`."""
    mock_random.seed(seed)
    utcnow = s3_models_module.utcnow
    s3_models_module.utcnow = lambda: when
    # Multipart upload ids come from os.urandom, not from mock_random: without this, a replayed
    # CreateMultipartUpload gets another id and every journaled part after it answers NoSuchUpload.
    s3_models_module.os = _SEEDED_OS
    try:
        yield
    finally:
        s3_models_module.utcnow = utcnow
        s3_models_module.os = os
        mock_random.seed()  # back to OS entropy for everything else


class _SeededOs:
    """`os` for moto's S3 models during a journaled request, with `urandom` from mock_random."""

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    @staticmethod
    def urandom(n: int) -> bytes:
        return mock_random.getrandbits(8 * n).to_bytes(n, "big") if n else b""


_SEEDED_OS = _SeededOs()


# --------------------------------------------------------------------------------------------
# Files


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def encode_record(payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload, separators=(",", ":")).encode()
    return HEADER.pack(MAGIC, len(data), zlib.crc32(data)) + data


def read_records(path: str) -> tuple[list[dict[str, Any]], int, int]:
    """Returns (records, offset of the end of the last good record, file size)."""
    records: list[dict[str, Any]] = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        if len(data) - pos < HEADER.size:
            break
        magic, length, crc = HEADER.unpack_from(data, pos)
        end = pos + HEADER.size + length
        if magic != MAGIC or length > MAX_RECORD or end > len(data):
            break
        payload = data[pos + HEADER.size:end]
        if zlib.crc32(payload) != crc:
            break
        try:
            records.append(json.loads(payload))
        except ValueError:
            break
        pos = end
    return records, pos, len(data)


class BlobStore:
    """Content-addressed request bodies: blobs/ab/<sha256>."""

    def __init__(self, root: str):
        self.root = root
        os.makedirs(root, exist_ok=True)

    def path(self, digest: str) -> str:
        return os.path.join(self.root, digest[:2], digest)

    def put(self, body: bytes) -> str:
        digest = hashlib.sha256(body).hexdigest()
        path = self.path(digest)
        if os.path.exists(path):
            return digest
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent, exist_ok=True)
            fsync_dir(self.root)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(parent)
        return digest

    def get(self, digest: str) -> bytes:
        with open(self.path(digest), "rb") as f:
            body = f.read()
        if hashlib.sha256(body).hexdigest() != digest:
            raise JournalError(f"blob {digest} is corrupt")
        return body

    def sweep(self, keep: set[str]) -> int:
        removed = 0
        for sub in os.listdir(self.root):
            subdir = os.path.join(self.root, sub)
            if not os.path.isdir(subdir):
                continue
            for name in os.listdir(subdir):
                if name not in keep:
                    os.unlink(os.path.join(subdir, name))
                    removed += 1
        return removed


# --------------------------------------------------------------------------------------------
# The journal


class Journal:
    def __init__(self, app: Callable, data_dir: str, compact_bytes: int):
        self.app = app
        self.dir = os.path.abspath(data_dir)
        self.path = os.path.join(self.dir, "journal")
        self.compact_bytes = compact_bytes
        os.makedirs(self.dir, exist_ok=True)
        self.blobs = BlobStore(os.path.join(self.dir, "blobs"))
        self.file = None

    # ---- classification

    def journaled_service(self, environ: dict[str, Any]) -> str | None:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api"):
            return "moto_api" if method == "POST" and path.rstrip("/") == "/moto-api/reset" else None
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("DynamoDB_"):
            return None if target.split(".", 1)[-1] in DYNAMODB_READ_ONLY else "dynamodb"
        if method not in ("PUT", "POST", "DELETE"):
            return None
        service = getattr(self.app.get_application(environ), "service", None)
        return "s3" if service == "s3" else None

    # ---- live path

    def handle(self, environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        """Runs one request; journals it (fsync) before answering if it changed state."""
        body = buffer_request(environ)
        svc = self.journaled_service(environ)
        if svc is None:
            status, headers, chunks = call_app(self.app, environ)
            start_response(status, headers)
            return chunks

        seed = int.from_bytes(os.urandom(16), "big")
        when = moto.core.utils.utcnow()
        env = recorded_env(environ)
        with frozen_request(seed, when):
            status, headers, chunks = call_app(self.app, environ)
        code = int(status.split(" ", 1)[0])
        if 200 <= code < 300:
            record = {"svc": svc, "time": when.isoformat(), "seed": seed, "env": env,
                      "status": code, "vid": header(headers, "x-amz-version-id")}
            try:
                self.attach_body(record, body)
                self.append(record)
            except Exception:
                # moto has applied a change we could not make durable. Answering would break the
                # promise; carrying on would let memory and disk disagree. Stop instead: the client
                # sees a dropped connection, and a restart serves exactly the journaled state.
                log.critical("journal write failed; exiting so nothing unjournaled is served",
                             exc_info=True)
                os._exit(70)
        start_response(status, headers)
        return chunks

    def attach_body(self, record: dict[str, Any], body: bytes) -> None:
        if len(body) > INLINE_MAX:
            record["blob"] = self.blobs.put(body)
        else:
            record["body"] = base64.b64encode(body).decode()

    def append(self, record: dict[str, Any]) -> None:
        self.file.write(encode_record(record))
        self.file.flush()
        os.fsync(self.file.fileno())

    # ---- startup

    def open(self) -> None:
        """Replays the journal (compacting it if large), then opens it for appending."""
        tmp = self.path + ".compact.tmp"
        if os.path.exists(tmp):
            os.unlink(tmp)  # a compaction that died before its rename; the journal is intact
        records: list[dict[str, Any]] = []
        if os.path.exists(self.path):
            records, good, size = read_records(self.path)
            if good < size:
                self.cut_torn_tail(good, size)
        started = time.monotonic()
        self.replay(records)
        log.warning("replayed %d journal records in %.1fs", len(records), time.monotonic() - started)
        if os.path.exists(self.path) and os.path.getsize(self.path) > self.compact_bytes:
            Compactor(self).compact(records)
        self.file = open(self.path, "ab")
        fsync_dir(self.dir)

    def cut_torn_tail(self, good: int, size: int) -> None:
        aside = f"{self.path}.torn-{int(time.time())}"
        with open(self.path, "rb") as f:
            f.seek(good)
            tail = f.read()
        with open(aside, "wb") as f:
            f.write(tail)
            f.flush()
            os.fsync(f.fileno())
        with open(self.path, "r+b") as f:
            f.truncate(good)
            f.flush()
            os.fsync(f.fileno())
        fsync_dir(self.dir)
        log.warning("journal: dropped %d bytes of torn/corrupt tail after offset %d (saved to %s)",
                    size - good, good, aside)

    def record_body(self, record: dict[str, Any]) -> bytes:
        if "blob" in record:
            return self.blobs.get(record["blob"])
        return base64.b64decode(record.get("body", ""))

    def replay(self, records: list[dict[str, Any]]) -> None:
        problems = 0
        for i, record in enumerate(records):
            problems += not self.replay_one(i, record)
        if problems:
            log.error("journal replay: %d of %d records did not replay identically",
                      problems, len(records))

    def replay_one(self, i: int, record: dict[str, Any]) -> bool:
        environ = replay_environ(record["env"], self.record_body(record))
        when = datetime.datetime.fromisoformat(record["time"])
        with frozen_request(record["seed"], when):
            status, headers, chunks = call_app(self.app, environ)
            if "fix" in record:
                apply_fix(record["fix"])
        code = int(status.split(" ", 1)[0])
        ok = 200 <= code < 300
        vid = header(headers, "x-amz-version-id")
        if record.get("vid") and "fix" not in record and vid != record["vid"]:
            ok = False
        if not ok:
            env = record["env"]
            log.error("replay #%d %s %s %s: got %s (version %s, recorded %s): %s", i,
                      env.get("REQUEST_METHOD"), env.get("PATH_INFO"),
                      env.get("HTTP_X_AMZ_TARGET", ""), status, vid, record.get("vid"),
                      b"".join(chunks)[:300])
        return ok


# --------------------------------------------------------------------------------------------
# Compaction


def apply_fix(fix: dict[str, Any]) -> None:
    """Snapshot records restore what an HTTP request cannot set (moto 5.2 FakeKey internals)."""
    upload = fix.get("s3multipart")
    if upload:
        # The upload the snapshot's CreateMultipartUpload just made (the newest) takes back its
        # id, so the parts after it, and clients resuming, find it under the id they know.
        bucket = s3_backends[upload["account"]][upload["partition"]].buckets[upload["bucket"]]
        made = bucket.multiparts.pop(next(reversed(bucket.multiparts)))
        made.id = upload["id"]
        bucket.multiparts[made.id] = made
    s3 = fix.get("s3version")
    if s3:
        bucket = s3_backends[s3["account"]][s3["partition"]].buckets[s3["bucket"]]
        version = bucket.keys.getlist(s3["key"])[-1]
        version._version_id = s3["version_id"]
        version.last_modified = datetime.datetime.fromisoformat(s3["last_modified"])
        if "etag" in s3:
            version._etag = s3["etag"].strip('"')  # the etag property adds the quotes
            version._is_versioned = s3["is_versioned"]
            for attr in ("checksum_algorithm", "checksum_value", "checksum_type"):
                setattr(version, attr, s3[attr])


def multipart_state(mp: Any) -> dict[str, Any]:
    """An upload in progress: its key, metadata and each part's bytes, ETag and checksum."""
    return {
        "key": mp.key_name, "metadata": dict(mp.metadata),
        "parts": {str(n): {"sha256": hashlib.sha256(part.value).hexdigest(), "etag": part.etag,
                           "checksum": getattr(part, "_groupshare_sha256", None)}
                  for n, part in sorted(mp.parts.items())},
    }


def s3_version_state(v: Any) -> dict[str, Any]:
    if isinstance(v, FakeDeleteMarker):
        return {"marker": True, "version_id": v.version_id,
                "last_modified": v.last_modified.isoformat()}
    return {
        "version_id": v.version_id, "etag": v.etag, "size": v.size,
        "sha256": hashlib.sha256(v.value).hexdigest(), "metadata": dict(v.metadata),
        "storage_class": v.storage_class, "last_modified": v.last_modified.isoformat(),
        "is_versioned": v._is_versioned, "checksum_algorithm": v.checksum_algorithm,
        "checksum_value": v.checksum_value, "checksum_type": v.checksum_type,
        "encryption": v.encryption, "website_redirect_location": v.website_redirect_location,
    }


# Bucket sub-resources carried over by GET -> PUT of the same XML/JSON document.
BUCKET_CONFIGS = ["policy", "cors", "lifecycle", "encryption", "tagging", "ownershipControls",
                  "publicAccessBlock", "website", "accelerate", "logging", "notification"]


class Compactor:
    """Rewrites the journal as a snapshot of the current state.

    The snapshot is itself a journal of synthetic requests (CreateTable, UpdateTimeToLive,
    BatchWriteItem; CreateBucket, PutBucketVersioning, one PutObject per object version, a
    DeleteObject per delete marker, bucket configuration PUTs), so it replays through moto's
    public API and does not depend on pickling moto objects. What requests cannot set (version
    ids, LastModified, multipart ETags, checksums) is restored by a `fix` on the record.

    Safety net: the snapshot only replaces the journal if replaying it into a reset backend
    reproduces the same state digest (all items, all object versions with bytes, ids, ETags,
    checksums, metadata; bucket configs; table definitions). Otherwise the full journal is kept.
    """

    def __init__(self, journal: Journal):
        self.journal = journal
        self.records: list[dict[str, Any]] = []
        self.now = moto.core.utils.utcnow()

    def compact(self, old_records: list[dict[str, Any]]) -> None:
        started = time.monotonic()
        before = self.digest()
        try:
            self.snapshot()
        except Exception:
            log.exception("compaction: snapshot failed; keeping the full journal")
            return
        moto_api_backend.reset()
        self.journal.replay(self.records)
        after = self.digest()
        if after != before:
            self.log_difference(before, after)
            log.error("compaction: snapshot does not reproduce the state; keeping the full journal")
            moto_api_backend.reset()
            self.journal.replay(old_records)
            return
        self.write()
        log.warning("compaction: %d records -> %d in %.1fs", len(old_records), len(self.records),
                    time.monotonic() - started)

    def write(self) -> None:
        path = self.journal.path
        tmp = path + ".compact.tmp"
        with open(tmp, "wb") as f:
            for record in self.records:
                f.write(encode_record(record))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(self.journal.dir)
        keep = {r["blob"] for r in self.records if "blob" in r}
        log.warning("compaction: removed %d unreferenced blobs", self.journal.blobs.sweep(keep))

    # ---- state digest

    def digest(self) -> dict[str, Any]:
        state: dict[str, Any] = {"dynamodb": {}, "s3": {}}
        for account, regions in dynamodb_backends.items():
            for region, backend in regions.items():
                for name, table in backend.tables.items():
                    desc = table.describe()["TableDescription"]
                    for k in ("CreationDateTime", "LatestStreamLabel", "LatestStreamArn",
                              "ItemCount", "TableSizeBytes"):
                        desc.pop(k, None)
                    state["dynamodb"][f"{account}/{region}/{name}"] = {
                        "describe": json.loads(json.dumps(desc, default=str)),
                        "ttl": table.ttl, "tags": table.tags,
                        "items": [i.to_json()["Attributes"] for i in table.all_items()],
                    }
        for account, partitions in s3_backends.items():
            for partition, backend in partitions.items():
                for name, bucket in backend.buckets.items():
                    state["s3"][f"{account}/{partition}/{name}"] = {
                        "region": bucket.region_name,
                        "versioning": bucket.versioning_status,
                        "configs": self.bucket_configs(name, bucket.region_name),
                        "keys": {k: [s3_version_state(v) for v in versions]
                                 for k, versions in sorted(bucket.keys.iterlists())},
                        "multiparts": {upload_id: multipart_state(mp)
                                       for upload_id, mp in sorted(bucket.multiparts.items())},
                    }
        return json.loads(json.dumps(state, sort_keys=True, default=str))

    def log_difference(self, before: dict, after: dict) -> None:
        """Logs the first few paths where the snapshot's replay differs from the live state."""
        diffs: list[str] = []

        def walk(path: str, b: Any, a: Any) -> None:
            if len(diffs) >= 10 or a == b:
                return
            if isinstance(a, dict) and isinstance(b, dict):
                for k in sorted(set(a) | set(b)):
                    walk(f"{path}/{k}", b.get(k), a.get(k))
            elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
                for i, (x, y) in enumerate(zip(b, a)):
                    walk(f"{path}[{i}]", x, y)
            else:
                diffs.append(f"{path}: live {str(b)[:200]} != snapshot {str(a)[:200]}")

        walk("", before, after)
        for d in diffs:
            log.error("compaction: %s", d)

    # ---- snapshot generation

    def add(self, svc: str, method: str, path: str, query: str = "", headers: dict | None = None,
            body: bytes = b"", region: str = "us-east-1", fix: dict | None = None) -> None:
        env = {
            "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path,
            "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "5000",
            "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "HTTP_HOST": "127.0.0.1",
            # moto routes by the credential scope: service and region.
            "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20200101/"
                                  f"{region}/{svc}/aws4_request, SignedHeaders=host, Signature=0",
            "CONTENT_LENGTH": str(len(body)),
        }
        for k, v in (headers or {}).items():
            key = k.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                env["CONTENT_TYPE"] = v
            else:
                env["HTTP_" + key] = v
        record = {"svc": svc, "time": self.now.isoformat(), "seed": 0, "env": env,
                  "status": 200, "vid": None}
        if fix:
            record["fix"] = fix
        self.journal.attach_body(record, body)
        self.records.append(record)

    def ddb(self, region: str, op: str, payload: dict[str, Any]) -> None:
        self.add("dynamodb", "POST", "/", region=region,
                 headers={"Content-Type": "application/x-amz-json-1.0",
                          "X-Amz-Target": f"DynamoDB_20120810.{op}"},
                 body=json.dumps(payload).encode())

    def snapshot(self) -> None:
        for account, regions in dynamodb_backends.items():
            for region, backend in regions.items():
                for table in backend.tables.values():
                    self.snapshot_table(region, table)
        for account, partitions in s3_backends.items():
            for partition, backend in partitions.items():
                for name, bucket in backend.buckets.items():
                    self.snapshot_bucket(account, partition, name, bucket)

    def snapshot_table(self, region: str, table: Any) -> None:
        on_demand = table.billing_mode == "PAY_PER_REQUEST"
        throughput = {k: table.throughput[k] for k in ("ReadCapacityUnits", "WriteCapacityUnits")}
        create: dict[str, Any] = {
            "TableName": table.name, "AttributeDefinitions": table.attr,
            "KeySchema": table.schema,
            "BillingMode": "PAY_PER_REQUEST" if on_demand else "PROVISIONED",
            "DeletionProtectionEnabled": bool(table.deletion_protection_enabled),
        }
        if not on_demand:
            create["ProvisionedThroughput"] = throughput
        if table.global_indexes:
            create["GlobalSecondaryIndexes"] = []
            for gsi in table.global_indexes:
                index = {"IndexName": gsi.name, "KeySchema": gsi.schema,
                         "Projection": gsi.projection}
                if not on_demand:
                    index["ProvisionedThroughput"] = {
                        k: gsi.throughput[k] for k in ("ReadCapacityUnits", "WriteCapacityUnits")}
                create["GlobalSecondaryIndexes"].append(index)
        if table.indexes:
            create["LocalSecondaryIndexes"] = [
                {"IndexName": i.name, "KeySchema": i.schema, "Projection": i.projection}
                for i in table.indexes]
        spec = table.stream_specification
        if spec and spec.get("StreamEnabled"):
            create["StreamSpecification"] = {"StreamEnabled": True,
                                             "StreamViewType": spec.get("StreamViewType")}
        if table.sse_specification:
            create["SSESpecification"] = table.sse_specification
        if table.tags:
            create["Tags"] = table.tags
        self.ddb(region, "CreateTable", create)
        if table.ttl.get("TimeToLiveStatus") == "ENABLED":
            self.ddb(region, "UpdateTimeToLive", {"TableName": table.name, "TimeToLiveSpecification":
                     {"Enabled": True, "AttributeName": table.ttl["AttributeName"]}})
        items = [i.to_json()["Attributes"] for i in table.all_items()]
        for start in range(0, len(items), 25):
            self.ddb(region, "BatchWriteItem", {"RequestItems": {table.name: [
                {"PutRequest": {"Item": item}} for item in items[start:start + 25]]}})

    def bucket_configs(self, name: str, region: str) -> dict[str, tuple[str, str]]:
        """GETs each bucket sub-resource; returns {sub: (content type, body)} for those set."""
        configs = {}
        for sub in BUCKET_CONFIGS:
            environ = replay_environ({
                "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": f"/{name}",
                "QUERY_STRING": sub, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "5000",
                "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
                "HTTP_HOST": "127.0.0.1", "CONTENT_LENGTH": "0",
                "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20200101/"
                                      f"{region}/s3/aws4_request, SignedHeaders=host, Signature=0",
            }, b"")
            status, headers, chunks = call_app(self.journal.app, environ)
            body = b"".join(chunks).decode()
            if not status.startswith("200"):
                continue
            # Unset configurations come back as an empty root element; nothing to carry over.
            stripped = body.split("?>", 1)[-1].strip()
            if stripped.endswith("/>") and stripped.count("<") == 1:
                continue
            if sub in ("notification", "logging", "accelerate") and stripped.count("<") <= 2:
                continue
            configs[sub] = (header(headers, "content-type") or "", body)
        return configs

    def snapshot_bucket(self, account: str, partition: str, name: str, bucket: Any) -> None:
        region = bucket.region_name
        body = b""
        if region != "us-east-1":
            body = ('<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                    f"<LocationConstraint>{region}</LocationConstraint>"
                    "</CreateBucketConfiguration>").encode()
        self.add("s3", "PUT", f"/{name}", body=body, region=region)
        configs = self.bucket_configs(name, region)

        def versioning(status: str) -> None:
            self.add("s3", "PUT", f"/{name}", "versioning", region=region, body=(
                '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                f"<Status>{status}</Status></VersioningConfiguration>").encode())

        # Versions are re-created oldest first with versioning on, so every PUT appends one;
        # the fix then restores its real id ("null" for pre-versioning objects).
        if bucket.versioning_status:
            versioning("Enabled")
        for key, versions in bucket.keys.iterlists():
            path = "/" + name + "/" + key
            for v in versions:
                where = {"account": account, "partition": partition, "bucket": name, "key": key}
                state = s3_version_state(v)
                if state.get("marker"):
                    self.add("s3", "DELETE", path, region=region, fix={"s3version": {
                        **where, "version_id": v.version_id,
                        "last_modified": state["last_modified"]}})
                    continue
                headers = {k: str(val) for k, val in v.metadata.items()}
                headers["Content-Type"] = headers.pop("content-type", "binary/octet-stream")
                if v.storage_class and v.storage_class != "STANDARD":
                    headers["x-amz-storage-class"] = v.storage_class
                if v.encryption:
                    headers["x-amz-server-side-encryption"] = v.encryption
                if v.website_redirect_location:
                    headers["x-amz-website-redirect-location"] = v.website_redirect_location
                fix = {**where, **{k: state[k] for k in (
                    "version_id", "last_modified", "etag", "is_versioned",
                    "checksum_algorithm", "checksum_value", "checksum_type")}}
                self.add("s3", "PUT", path, region=region, headers=headers, body=v.value,
                         fix={"s3version": fix})
        # Uploads in progress (a resumable upload's parts): created again, given back their id,
        # then their parts, each with the checksum it was sent with.
        for upload_id, mp in bucket.multiparts.items():
            path = "/" + name + "/" + mp.key_name
            self.add("s3", "POST", path, "uploads", region=region,
                     headers={k: str(v) for k, v in mp.metadata.items()},
                     fix={"s3multipart": {"account": account, "partition": partition,
                                          "bucket": name, "id": upload_id}})
            for n, part in sorted(mp.parts.items()):
                headers = {}
                checksum = getattr(part, "_groupshare_sha256", None)
                if checksum:
                    headers["x-amz-checksum-sha256"] = checksum
                self.add("s3", "PUT", path, f"partNumber={n}&uploadId={upload_id}", region=region,
                         headers=headers, body=part.value)
        if bucket.versioning_status and bucket.versioning_status != "Enabled":
            versioning(bucket.versioning_status)
        for sub, (content_type, doc) in configs.items():
            self.add("s3", "PUT", f"/{name}", sub, region=region,
                     headers={"Content-Type": content_type}, body=doc.encode())
