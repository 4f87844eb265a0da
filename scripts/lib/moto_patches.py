"""Every change GroupShare makes to moto 5.2.5 (the local DynamoDB/S3 stand-in), in one place.

moto is pinned exactly (scripts/lib/tools.sh): these patches replace or wrap moto internals and
are checked against that version only. Each patch is registered below under a name;
docs/decisions.md ("moto patch inventory") lists every one with the AWS behaviour it restores,
the test that proves it (scripts/lib/test_moto_patches.py) and whether upstream moto has it.

    memory.untracked-instances  moto records every model object it ever creates: unbounded memory
    dynamodb.transactions       TransactWriteItems without whole-table copies, conditions first
    dynamodb.query-partition    a Query reads its partition, not the whole table sorted
    dynamodb.stream-iterators   a used shard iterator is forgotten: polling keeps memory flat
    s3.post-upload              browser-form uploads: size range, SHA-256, version id
    s3.multipart-checksums      parts checked against their SHA-256; S3's ListParts/HEAD/complete
    s3.kept-part-digests        completion builds the composite checksum from kept digests
    s3.event-fields             notifications carry versionId and the fields Lambda requires
    s3.presigned-verify         presigned URLs verified (SigV4 signature, expiry)
    s3.key-name-index           listings with a prefix visit the prefix's keys only, copy nothing
    s3.ranged-part-copy         UploadPartCopy reads its range of the source, not the whole object
    server.dispatch-cache       a request's service and handler found without reading moto's files

install() applies them all, before any request is handled (and before a journal replays).
MOTO_PATCHES_OFF=name,name (or "all") leaves some out: to measure moto as shipped
(moto_memory_probe.py, bench_stand_in.py) and to prove that each patch's test fails without it
(test_moto_patches.py --prove). moto_journal.py (durability, not behaviour) stays separate.
"""

import base64
import bisect
import copy
import datetime
import hashlib
import hmac
import json
import os
import re
from urllib.parse import quote, unquote, unquote_to_bytes, urlsplit
from xml.dom import minidom

import moto.s3.models as s3_models
from moto.core.common_models import BaseModel
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodbstreams.models import DynamoDBStreamsBackend
from moto.s3 import notifications
from moto.s3.responses import S3Response
from moto.s3.utils import _VersionedKeyStore

PATCHES = {}  # name -> install function, in the order above
ORIGINAL = {}  # "Class.attr" -> moto's own function, for the tests' comparisons
_installed = False


def patch(name):
    def register(install_fn):
        PATCHES[name] = install_fn
        return install_fn
    return register


def replace(owner, attr, new):
    ORIGINAL.setdefault(f"{owner.__name__}.{attr}", getattr(owner, attr))
    setattr(owner, attr, new)


def install(off=None):
    """Applies every patch not named in `off` (default: $MOTO_PATCHES_OFF); returns the names.
    Once per process: a second call would wrap the patches in themselves."""
    global _installed
    if _installed:
        raise RuntimeError("moto_patches.install() runs once per process")
    _installed = True
    off = os.environ.get("MOTO_PATCHES_OFF", "") if off is None else off
    skipped = set(PATCHES) if off.strip() == "all" else {n.strip() for n in off.split(",") if n.strip()}
    unknown = skipped - set(PATCHES)
    if unknown:
        raise ValueError(f"MOTO_PATCHES_OFF names no such patch: {sorted(unknown)}")
    for name, install_fn in PATCHES.items():
        if name not in skipped:
            install_fn()
    return [n for n in PATCHES if n not in skipped]


# --------------------------------------------------------------------------------------------
# memory


@patch("memory.untracked-instances")
def _untracked_instances():
    """moto's `BaseModel.__new__` appends every model object it ever creates (deep copies too:
    every Query result item, every transaction's backup) to a class-level list that only
    /moto-api/reset clears; it feeds the moto-api dashboard. A stand-in that runs for hours grew
    to 4.4 GB. Objects are no longer recorded (the dashboard lists no instances; S3's reset still
    disposes every key it reaches through the buckets)."""

    def untracked_new(cls, *args, **kwargs):
        return super(BaseModel, cls).__new__(cls)  # BaseModel.__new__ minus the append

    replace(BaseModel, "__new__", untracked_new)


# --------------------------------------------------------------------------------------------
# DynamoDB


def _transact_write_items(self, transact_items):
    """DynamoDB's semantics: every condition is evaluated against the state before the
    transaction, nothing is written if one fails, and no two parts touch the same item. moto
    instead deep-copied every touched table first (O(table) per call: 65 -> 12 sends/s as
    history grew) and restored the copies on failure, which under concurrent requests could
    undo another request's committed write. Here the conditions are checked first (same
    cancellation reasons, ALL_OLD items included), then the parts applied, with a backup of
    only the touched items in case applying one raises."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    parts = []
    seen = set()
    errors = []
    for item in transact_items:
        if len(item) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(item.items()))
        original_item = None
        try:
            if op_type not in ("ConditionCheck", "Put", "Delete", "Update"):
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            if op_type == "Put":
                table = self.get_table(table_name)
                key = {a: op["Item"][a] for a in table.table_key_attrs}
            else:
                key = op["Key"]
            marker = (str(table_name), str(dict(sorted(key.items()))))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)
            current = self.get_item(table_name, key)
            condition = op.get("ConditionExpression")
            if condition is not None:
                check = get_filter_expression(
                    condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues"))
                if not check.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            parts.append((op_type, op, table_name, key, current))
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:  # noqa: BLE001 - reported per part, as moto does
            errors.append((type(e).__name__, str(e), original_item))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)

    backup = [(table_name, key, None if current is None else current.to_json()["Attributes"])
              for (_, _, table_name, key, current) in parts]
    try:
        for op_type, op, table_name, key, _ in parts:
            if op_type == "Put":
                self.put_item(table_name, op["Item"])
            elif op_type == "Delete":
                self.delete_item(table_name, key)
            elif op_type == "Update":
                self.update_item(
                    table_name, key, update_expression=op["UpdateExpression"],
                    condition_expression=None,
                    expression_attribute_names=op.get("ExpressionAttributeNames"),
                    expression_attribute_values=op.get("ExpressionAttributeValues"))
    except Exception:
        for table_name, key, attrs in backup:
            if attrs is None:
                if self.get_item(table_name, key) is not None:
                    self.delete_item(table_name, key)
            else:
                self.put_item(table_name, attrs)
        raise


@patch("dynamodb.transactions")
def _transactions():
    replace(DynamoDBBackend, "transact_write_items", _transact_write_items)


# A Query on one partition, at a cost that grows with the partition, not the table.
#
# moto's Table.query takes its candidates from `self.all_items()`, which sorts every item of the
# table, and only then keeps the queried partition: 64 ms for a 50-item page of an 8-message
# group with 5,000 messages stored, ~1 s with 100,000. Here `all_items` is replaced, for the
# duration of one query, by the partition's items in the same order (sorted by primary key, as
# all_items sorts): for the table, `items[hash_key]`; for an index, the items whose first hash
# condition attribute has the queried value, from an index of that attribute kept by the
# writes. moto's own code then runs unchanged on that superset of its matches (key conditions,
# ScanIndexForward, Limit, ExclusiveStartKey, FilterExpression after Limit, projections,
# ConsistentRead refused on a GSI), so results are identical (test_moto_patches.py compares
# random workloads against moto's query). Nothing is stored that moto does not derive again:
# the attribute indexes are built on first use from `table.items`, so a journal replay or a
# snapshot rebuilds them.


def _by_primary_key(item):  # Table.all_items' sort key (moto 5.2.5)
    return (item.hash_key, item.range_key) if item.range_key else item.hash_key


def _stored(table, hash_key, range_key):
    part = table.items.get(hash_key)  # .get: table.items is a defaultdict
    if part is None or table.range_key_attr is None:
        return part
    return part.get(range_key)


def _attr_indexes(table):
    return table.__dict__.setdefault("_groupshare_attr_indexes", {})


def _attr_index(table, attr):
    """{value: {(hash_key, range_key): None}} for the attribute; built once from the items."""
    indexes = _attr_indexes(table)
    if attr not in indexes:
        index = {}
        for part in table.items.values():
            for item in part.values() if table.range_key_attr else [part]:
                _add(index, item.attrs.get(attr), (item.hash_key, item.range_key))
        indexes[attr] = index
    return indexes[attr]


def _add(index, value, pk):
    if value is not None:
        try:
            index.setdefault(value, {})[pk] = None
        except TypeError:
            pass  # lists, maps and sets: never equal to a key value, never a candidate


def _discard(index, value, pk):
    try:
        keys = index.get(value) if value is not None else None
    except TypeError:
        return
    if keys is not None:
        keys.pop(pk, None)
        if not keys:
            del index[value]


def _indexed_write(table, key, write):
    """Runs `write` (a change to the item at `key`, a (hash, range) pair or None when unknown)
    and brings the table's attribute indexes up to date with what it changed."""
    indexes = table.__dict__.get("_groupshare_attr_indexes")
    if not indexes:
        return write()
    if key is None:
        result = write()  # moto refuses most such writes; one it accepts changed who knows what
        table.__dict__.pop("_groupshare_attr_indexes", None)  # rebuilt on the next index Query
        return result
    before = _stored(table, *key)
    old = {attr: before.attrs.get(attr) for attr in indexes} if before is not None else {}
    try:
        return write()
    finally:
        after = _stored(table, *key)
        for attr, index in indexes.items():
            new = after.attrs.get(attr) if after is not None else None
            _discard(index, old.get(attr), key)
            _add(index, new, key)


def _key_of(table, attrs):
    try:
        hash_key = DynamoType(attrs[table.hash_key_attr])
        range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
        hash(hash_key), hash(range_key)
        return hash_key, range_key
    except (KeyError, TypeError, IndexError, AttributeError):
        return None


def _query_one_partition(self, hash_key, range_comparison, range_objs, limit,
                         exclusive_start_key, scan_index_forward, projection_expressions,
                         index_name=None, consistent_read=False, filter_expression=None,
                         hash_key_conditions=None, range_key_conditions=None, **filter_kwargs):
    def partition():
        try:
            if index_name is None:
                if hash_key is None:
                    return Table.all_items(self)
                part = self.items.get(hash_key)
                items = [] if part is None else list(part.values()) if self.range_key_attr else [part]
            else:
                if not hash_key_conditions:
                    return Table.all_items(self)
                # moto keeps an index item only if every hash condition holds; the first one's
                # attribute index gives a superset of those, in one dict lookup.
                attr, value = hash_key_conditions[0]
                stored = (_stored(self, *pk) for pk in _attr_index(self, attr).get(value, ()))
                items = [item for item in stored if item is not None]
        except TypeError:  # an unhashable key value: moto's own scan
            return Table.all_items(self)
        return sorted(items, key=_by_primary_key)

    self.all_items = partition  # for this call only (requests run one at a time)
    try:
        return ORIGINAL["Table.query"](
            self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
            scan_index_forward, projection_expressions, index_name, consistent_read,
            filter_expression, hash_key_conditions=hash_key_conditions,
            range_key_conditions=range_key_conditions, **filter_kwargs)
    finally:
        del self.all_items


@patch("dynamodb.query-partition")
def _query_partition():
    put, delete, update = Table.put_item, Table.delete_item, DynamoDBBackend.update_item

    # Every way moto 5.2.5 changes an item goes through these three (BatchWriteItem, the
    # transactions above, PartiQL and table imports call them too; restored tables are new).
    def put_item(self, item_attrs, *args, **kwargs):
        return _indexed_write(self, _key_of(self, item_attrs),
                              lambda: put(self, item_attrs, *args, **kwargs))

    def delete_item(self, hash_key, range_key):
        return _indexed_write(self, (hash_key, range_key), lambda: delete(self, hash_key, range_key))

    def update_item(self, table_name, key, *args, **kwargs):
        try:
            table = self.get_table(table_name)  # a name or an ARN
        except Exception:  # noqa: BLE001 - moto's own error follows
            return update(self, table_name, key, *args, **kwargs)
        return _indexed_write(table, _key_of(table, key) if isinstance(key, dict) else None,
                              lambda: update(self, table_name, key, *args, **kwargs))

    replace(Table, "put_item", put_item)
    replace(Table, "delete_item", delete_item)
    replace(DynamoDBBackend, "update_item", update_item)
    replace(Table, "query", _query_one_partition)


@patch("dynamodb.stream-iterators")
def _stream_iterators():
    """moto keeps every shard iterator it hands out, and every GetRecords hands out a new one:
    the local stack's stream pump, polling like Lambda's event source mapping, grew moto by
    ~1 KB per poll. A GetRecords now retires the iterator it was given (the pump goes on from
    NextShardIterator, and after a failed read from a new AFTER_SEQUENCE_NUMBER iterator;
    DynamoDB would accept a reuse for 15 minutes, here a reused iterator is refused)."""
    get_records = DynamoDBStreamsBackend.get_records

    def get_records_once(self, iterator_arn, limit):
        result = get_records(self, iterator_arn, limit)
        self.shard_iterators.pop(iterator_arn, None)
        return result

    replace(DynamoDBStreamsBackend, "get_records", get_records_once)


# --------------------------------------------------------------------------------------------
# S3: uploads


def _error(code, message, status=400):
    body = ('<?xml version="1.0" encoding="UTF-8"?>'
            f"<Error><Code>{code}</Code><Message>{message}</Message></Error>")
    return status, {"Content-Type": "application/xml"}, body


def _body(response):
    body = response.body if isinstance(response.body, bytes) else (response.body or b"")
    return body.encode() if isinstance(body, str) else body


def _sha256_b64(data):
    return base64.b64encode(hashlib.sha256(bytes(data)).digest()).decode()


def _form_field(querystring, name):
    for key, values in querystring.items():
        if key.lower() == name and values:
            return values[0]
    return None


def _length_range(policy_b64):
    try:
        policy = json.loads(base64.b64decode(policy_b64))
    except (ValueError, TypeError):
        return None
    for condition in policy.get("conditions", []):
        if isinstance(condition, list) and condition and condition[0] == "content-length-range":
            return int(condition[1]), int(condition[2])
    return None


@patch("s3.post-upload")
def _post_upload():
    """moto stores a POST (browser form) upload as given: it ignores the policy's
    `content-length-range`, drops the `x-amz-checksum-sha256` field (wrong bytes are kept and
    HeadObject reports no checksum) and answers without `x-amz-version-id`. GroupShare relies
    on all three (exact size, declared hash confirmed by storage, completed version pinned).
    The form's signature and expiry stay unchecked (s3s-fs covers those in the tests)."""
    original = S3Response._bucket_response_post

    def post_like_s3(self, request, bucket_name):
        if self.is_delete_keys() or "key" not in self.querystring:
            return original(self, request, bucket_name)
        body = _body(self)
        policy = _form_field(self.querystring, "policy")
        bounds = _length_range(policy) if policy else None
        if bounds is not None:
            if len(body) < bounds[0]:
                return _error("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size")
            if len(body) > bounds[1]:
                return _error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
        declared = _form_field(self.querystring, "x-amz-checksum-sha256")
        if declared is not None and declared != _sha256_b64(body):
            return _error("BadDigest", "The SHA256 you specified did not match the calculated checksum.")
        status, headers, out = original(self, request, bucket_name)
        key = self.backend.get_object(bucket_name, self.querystring["key"][0])
        if key is not None:
            if declared is not None:
                key.checksum_algorithm, key.checksum_value = "SHA256", declared
            if key.version_id and key.version_id != "null":
                headers = dict(headers)
                headers["x-amz-version-id"] = key.version_id
        return status, headers, out

    replace(S3Response, "_bucket_response_post", post_like_s3)


def _multipart(response, upload_id):
    try:
        bucket = response.backend.get_bucket(response.bucket_name)
    except Exception:  # noqa: BLE001 - moto's own NoSuchBucket follows in the original call
        return None
    return bucket.multiparts.get(upload_id)


def _uses_sha256(multipart):
    return (multipart.metadata.get("x-amz-checksum-algorithm") or "").upper() == "SHA256"


def _part_sha256(part):
    """A part's SHA-256 (base64), hashed once when it arrived: listing and completing a 200 MiB
    upload must not hash it all again (S3 keeps the checksum with the part)."""
    cached = getattr(part, "_groupshare_sha256", None)
    if cached is None:
        cached = part._groupshare_sha256 = _sha256_b64(part.value)
    return cached


@patch("s3.multipart-checksums")
def _multipart_checksums():
    """Multipart uploads with SHA-256 part checksums (ChecksumAlgorithm=SHA256, parts sent with
    `x-amz-checksum-sha256`) as S3 handles them. moto keeps a part whatever its checksum, answers
    ListParts with a root element the SDKs refuse (`ListPartsResponse`) and without the parts'
    checksums, leaves `-<parts>` and `x-amz-checksum-type: COMPOSITE` out of HeadObject (its
    GetObject has them), ignores the parts' checksums in CompleteMultipartUpload, and fails with
    a 500 for an unknown (aborted, completed) upload id. Now: BadDigest, S3's ListPartsResult
    with ChecksumSHA256, HEAD's composite checksum, InvalidPart, 404 NoSuchUpload."""
    upload_part, list_parts = S3Response.upload_part, S3Response.list_parts
    head_object, key_post = S3Response.head_object, S3Response._key_response_post

    def upload_part_like_s3(self):
        multipart = _multipart(self, self._get_param("uploadId"))
        if multipart is None:
            return _error("NoSuchUpload", "The specified upload does not exist.", 404)
        actual = _sha256_b64(_body(self))
        declared = self.headers.get("x-amz-checksum-sha256")
        if declared is not None and declared != actual:
            return _error("BadDigest", "The SHA256 you specified did not match the calculated checksum.")
        status, headers, out = upload_part(self)
        stored = multipart.parts.get(int(self._get_param("partNumber") or 0))
        if status == 200 and stored is not None:
            stored._groupshare_sha256 = actual
        if _uses_sha256(multipart):
            headers = dict(headers)
            headers["x-amz-checksum-sha256"] = actual
        return status, headers, out

    def list_parts_like_s3(self):
        status, headers, out = list_parts(self)
        if status != 200:
            return status, headers, out
        text = out.decode() if isinstance(out, bytes) else out
        text = text.replace("<ListPartsResponse", "<ListPartsResult").replace(
            "</ListPartsResponse>", "</ListPartsResult>")
        multipart = _multipart(self, self._get_param("uploadId"))
        if multipart is None or not _uses_sha256(multipart):
            return status, headers, text

        def with_checksum(match):
            part = multipart.parts.get(int(match.group(1)))
            if part is None:
                return match.group(0)
            return f"{match.group(0)}<ChecksumSHA256>{_part_sha256(part)}</ChecksumSHA256>"

        return status, headers, re.sub(r"<PartNumber>(\d+)</PartNumber>", with_checksum, text)

    def head_like_s3(self, bucket_name, query, key_name, headers):
        status, response_headers, out = head_object(self, bucket_name, query, key_name, headers)
        if status != 200 or headers.get("x-amz-checksum-mode") != "ENABLED":
            return status, response_headers, out
        try:
            key = self.backend.head_object(bucket_name, key_name,
                                           version_id=query.get("versionId", [None])[0])
        except Exception:  # noqa: BLE001 - the original answer stands
            return status, response_headers, out
        if key is not None and key.checksum_algorithm and key.checksum_type == "COMPOSITE":
            response_headers = dict(response_headers)
            response_headers[f"x-amz-checksum-{key.checksum_algorithm.lower()}"] = \
                f"{key.checksum_value}-{key.checksum_parts}"
            response_headers["x-amz-checksum-type"] = "COMPOSITE"
        return status, response_headers, out

    def key_post_like_s3(self, request, body, bucket_name, query, key_name):
        upload_id = (query.get("uploadId") or [None])[0]
        multipart = _multipart(self, upload_id) if upload_id else None
        if upload_id and multipart is None:
            return _error("NoSuchUpload", "The specified upload does not exist.", 404)
        if multipart is not None and _uses_sha256(multipart) and body:
            for p in minidom.parseString(body).getElementsByTagName("Part"):
                number = int(p.getElementsByTagName("PartNumber")[0].firstChild.wholeText)
                given = p.getElementsByTagName("ChecksumSHA256")
                part = multipart.parts.get(number)
                if part is None:
                    continue  # moto's own InvalidPart
                if not given or given[0].firstChild.wholeText != _part_sha256(part):
                    return _error(
                        "InvalidPart",
                        "The upload was created using a sha256 checksum. The complete request must "
                        "include the checksum for each part. It was missing or wrong for part "
                        f"{number} in the request.")
        return key_post(self, request, body, bucket_name, query, key_name)

    replace(S3Response, "upload_part", upload_part_like_s3)
    replace(S3Response, "list_parts", list_parts_like_s3)
    replace(S3Response, "head_object", head_like_s3)
    replace(S3Response, "_key_response_post", key_post_like_s3)


@patch("s3.kept-part-digests")
def _kept_part_digests():
    """moto's CompleteMultipartUpload hashes every part again for a SHA-256 upload's composite
    checksum (the whole object: half a second for 200 MiB, a cost S3 does not have); here it is
    built from the digests kept when each part arrived (s3.multipart-checksums keeps them)."""
    complete = s3_models.FakeMultipart.complete

    def complete_with_kept_digests(self, body):
        listed = list(body)
        kept = []
        for number, _ in listed:
            part = self.parts.get(number)
            digest = getattr(part, "_groupshare_sha256", None) if part is not None else None
            kept.append(base64.b64decode(digest) if digest else None)
        builder = s3_models.MultipartChecksumBuilder

        class KeptDigests(builder):
            def addPart(self, part):  # noqa: N802 - moto's name
                digest = kept.pop(0) if kept else None
                if digest is not None and self.checksum_type == "COMPOSITE" \
                        and self.checksum_algorithm == "SHA256":
                    self.checksum.extend(digest)
                    self.part_count += 1
                else:
                    super().addPart(part)

        s3_models.MultipartChecksumBuilder = KeptDigests
        try:
            return complete(self, iter(listed))
        finally:
            s3_models.MultipartChecksumBuilder = builder

    replace(s3_models.FakeMultipart, "complete", complete_with_kept_digests)


@patch("s3.event-fields")
def _event_fields():
    """S3's event records carry the object version (`s3.object.versionId`, which the
    upload-completed handler needs to delete stray versions) and `userIdentity`,
    `requestParameters` and `responseElements`, without which Lambda's event types refuse the
    record; moto's carry none of them."""
    get_event = notifications._get_s3_event

    def event_like_s3(event_name, bucket, key, notification_id):
        event = get_event(event_name, bucket, key, notification_id)
        version = getattr(key, "version_id", None)
        for record in event["Records"]:
            record.setdefault("userIdentity", {"principalId": "local"})
            record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
            record.setdefault("responseElements", {})
            if version and version != "null":
                record["s3"]["object"]["versionId"] = version
        return event

    ORIGINAL.setdefault("notifications._get_s3_event", get_event)
    notifications._get_s3_event = event_like_s3


# --------------------------------------------------------------------------------------------
# S3: presigned URLs

# Access key -> secret of the keys whose presigned URLs are verified: the local stack's
# (scripts/local) and the tests'. moto accepts any key; URLs of other keys are not checked.
PRESIGN_SECRETS = {"local": "local", "test": "test"}
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # S3's limit for X-Amz-Expires


def _query_pairs(raw_query):
    """The raw query's (name, value) pairs, percent-decoded (`+` stays `+`, as S3 reads SigV4)."""
    pairs = []
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


def _uri_encode(text):
    return quote(text, safe="-_.~")  # SigV4: all but A-Z a-z 0-9 - _ . ~ as %XX


def _raw_path(environ):
    """The path as the client sent it (werkzeug keeps the request line in RAW_URI)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw is None:
        return quote(environ.get("PATH_INFO", "/").encode("latin-1"), safe="/")
    if not raw.startswith("/"):  # absolute-form request line
        raw = urlsplit(raw).path or "/"
    return raw.split("?", 1)[0]


def _presign_refusal(request):
    """None when the request may go on to moto; else S3's answer to a presigned URL that does
    not verify or has expired."""
    environ = getattr(request, "environ", None)
    if environ is None or request.method == "OPTIONS":
        return None  # a CORS preflight carries no signature of its own: S3 answers it as CORS
    raw_query = environ.get("QUERY_STRING", "")
    if "X-Amz-Signature=" not in raw_query:
        return None  # not presigned (header-signed SDK calls, POST forms): moto's handling
    pairs = _query_pairs(raw_query)
    params = dict(pairs)
    credential = params.get("X-Amz-Credential", "").split("/")
    if len(credential) != 5 or credential[0] not in PRESIGN_SECRETS:
        return None  # a key we have no secret for: left alone, as moto does
    amz_date = params.get("X-Amz-Date", "")
    try:
        signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
        expires = int(params.get("X-Amz-Expires", ""))
    except ValueError:
        expires = -1
    if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or not 0 < expires <= MAX_PRESIGN_SECONDS \
            or not params.get("X-Amz-SignedHeaders"):
        return _error("AuthorizationQueryParametersError",
                      "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                      "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                      "X-Amz-Expires parameters, X-Amz-Expires at most 604800 seconds.")
    # The canonical request, from the request as received.
    path = quote(unquote_to_bytes(_raw_path(environ).encode("latin-1")), safe="/-_.~")
    query = "&".join(f"{_uri_encode(n)}={_uri_encode(v)}" for n, v in sorted(
        (n, v) for n, v in pairs if n != "X-Amz-Signature"))
    headers = ""
    for name in params["X-Amz-SignedHeaders"].split(";"):
        value = request.headers.get(name) or ""  # a signed header left out cannot match
        headers += f"{name}:{' '.join(value.split())}\n"
    canonical = "\n".join(
        [request.method, path, query, headers, params["X-Amz-SignedHeaders"], "UNSIGNED-PAYLOAD"])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, "/".join(credential[1:]),
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + PRESIGN_SECRETS[credential[0]]).encode()
    for part in credential[1:]:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), params.get("X-Amz-Signature", "").encode()):
        return _error("SignatureDoesNotMatch",
                      "The request signature we calculated does not match the signature you "
                      "provided. Check your key and signing method.", 403)
    # moto's S3 clock: frozen to the recorded time while the journal replays a request, so a
    # part PUT accepted live replays after its URL expired.
    now = s3_models.utcnow()
    if now.tzinfo is not None:
        now = now.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    if now > signed_at + datetime.timedelta(seconds=expires):
        return _error("AccessDenied", "Request has expired", 403)
    return None


@patch("s3.presigned-verify")
def _presigned_verify():
    """moto serves a presigned URL whatever was done to it: a stripped signed parameter (the
    forced-download `response-content-disposition`, the `versionId`), another signature or
    signed header, an expired URL all still worked. Now, for the access keys in
    PRESIGN_SECRETS, the canonical request is rebuilt from the request as received and signed
    (403 SignatureDoesNotMatch), and a URL past X-Amz-Date + X-Amz-Expires is refused (403
    AccessDenied). Header-signed SDK calls and other keys are left alone, as moto leaves them."""
    key_response, bucket_response = S3Response.key_response, S3Response.bucket_response

    def refusal(request):
        refused = _presign_refusal(request)
        return None if refused is None else (refused[0], refused[1], refused[2].encode())

    def key_response_verified(self, request, full_url, headers):
        return refusal(request) or key_response(self, request, full_url, headers)

    def bucket_response_verified(self, request, full_url, headers):
        return refusal(request) or bucket_response(self, request, full_url, headers)

    replace(S3Response, "key_response", key_response_verified)
    replace(S3Response, "bucket_response", bucket_response_verified)


# --------------------------------------------------------------------------------------------
# S3: listings
#
# moto lists a bucket by visiting every key in it: ListObjectsV2 copies the key dict and reads
# each key's latest version before filtering by prefix; ListObjectVersions deep-copied every
# version of every key (object bytes included: 5-10 s with a 1.3 GB bucket, so deletions hit
# their deadline). A sorted list of each bucket's key names, kept by the three methods that
# add or remove a name, lets a listing with a prefix find the prefix's names by bisection.
# moto's own listing code then runs on those names only; ListObjectVersions gets a light view
# of each version to mark `is_latest` on instead of a deep copy.


def _sorted_names(store):
    names = store.__dict__.get("_groupshare_names")
    if names is None:
        names = store._groupshare_names = sorted(dict.keys(store))
    return names


def _names_under(store, prefix):
    names = _sorted_names(store)
    start = bisect.bisect_left(names, prefix)
    end = start
    while end < len(names) and names[end].startswith(prefix):
        end += 1
    return names[start:end]


def _keeping_names_sorted(method):
    def changed(self, key, *args, **kwargs):
        try:
            return method(self, key, *args, **kwargs)
        finally:
            names = self.__dict__.get("_groupshare_names")
            if names is not None:
                i = bisect.bisect_left(names, key)
                listed = i < len(names) and names[i] == key
                if dict.__contains__(self, key) and not listed:
                    names.insert(i, key)
                elif listed and not dict.__contains__(self, key):
                    del names[i]
    return changed


def _dropping_names(method):
    def changed(self, *args, **kwargs):
        self.__dict__.pop("_groupshare_names", None)  # rebuilt by the next listing
        return method(self, *args, **kwargs)
    return changed


class _ListedVersion:
    """A stored version (FakeKey or FakeDeleteMarker) as one listing shows it: its attributes,
    read through, plus the listing's own `is_latest`. It passes for the stored version's class
    (isinstance reads `__class__`), which moto's listing uses to tell keys from markers."""

    __slots__ = ("version", "is_latest")

    def __init__(self, version):
        self.version = version
        self.is_latest = False

    @property
    def __class__(self):
        return type(self.version)

    def __getattr__(self, name):
        return getattr(self.version, name)


class _ViewsNotCopies:
    """Stands for the `copy` module in moto.s3.models during a version listing: each key's
    versions as views, newest first (a stable sort then lists same-millisecond versions newest
    first, as stored; moto listed the oldest first and called it the latest)."""

    @staticmethod
    def deepcopy(versions):
        return [_ListedVersion(v) for v in reversed(versions)]


@patch("s3.key-name-index")
def _key_name_index():
    for name in ("__setitem__", "setlist", "pop"):  # how moto stores and drops versions
        replace(_VersionedKeyStore, name, _keeping_names_sorted(getattr(_VersionedKeyStore, name)))
    for name in ("__delitem__", "clear", "update", "setdefault", "popitem"):  # unused by moto
        replace(_VersionedKeyStore, name, _dropping_names(getattr(dict, name)))
    list_versions, list_objects = (s3_models.S3Backend.list_object_versions,
                                   s3_models.S3Backend.list_objects)

    def list_object_versions(self, bucket_name, delimiter=None, key_marker=None, max_keys=1000,
                             prefix="", version_id_marker=None):
        store = self.get_bucket(bucket_name).keys
        names = _names_under(store, prefix or "")
        store.iterlists = lambda: ((n, store.getlist(n)) for n in names)
        s3_models.copy = _ViewsNotCopies
        try:
            return list_versions(self, bucket_name, delimiter, key_marker, max_keys, prefix,
                                 version_id_marker)
        finally:
            s3_models.copy = copy
            del store.iterlists

    def list_objects_under_prefix(self, bucket, prefix, delimiter, marker, max_keys):
        store = getattr(bucket, "keys", None)
        if not prefix or not isinstance(store, _VersionedKeyStore):
            return list_objects(self, bucket, prefix, delimiter, marker, max_keys)
        names = _names_under(store, prefix)
        store.items = lambda: ((n, store[n]) for n in names)
        try:
            return list_objects(self, bucket, prefix, delimiter, marker, max_keys)
        finally:
            del store.items

    replace(s3_models.S3Backend, "list_object_versions", list_object_versions)
    replace(s3_models.S3Backend, "list_objects", list_objects_under_prefix)


@patch("s3.ranged-part-copy")
def _ranged_part_copy():
    """UploadPartCopy (a forward's copy of a multipart file) as S3 does it: the part is the
    source's byte range. moto read the whole source object for every part and sliced it: a
    200 MiB forward in 13 parts read 2.6 GB and outlived the request's deadline. Now only the
    range is read, from the source version's buffer under its lock."""

    def upload_part_copy(self, dest_bucket_name, multipart_id, part_id, src_bucket_name,
                         src_key_name, src_version_id, start_byte, end_byte):
        multipart = self.get_bucket(dest_bucket_name).multiparts[multipart_id]
        source = self.get_object(src_bucket_name, src_key_name, version_id=src_version_id)
        if start_byte is None:
            return multipart.set_part(part_id, source.value)
        with source.lock:
            source._value_buffer.seek(start_byte)
            value = source._value_buffer.read(end_byte + 1 - start_byte)
        return multipart.set_part(part_id, value)

    replace(s3_models.S3Backend, "upload_part_copy", upload_part_copy)


# --------------------------------------------------------------------------------------------
# the server's dispatch


@patch("server.dispatch-cache")
def _dispatch_cache():
    """moto finds each request's service and handler afresh: it lists its own package directory
    (a listdir and about 60 stats, `list_of_moto_modules`) to match the Host header, and walks
    the handler class by introspection for its method names (`method_names_from_class`). Both
    are the same for the life of the process, and were about a third of a small request's time
    in moto: on every one of a push's three serial reads. Each is computed once now; what a
    request is dispatched to is unchanged."""
    import functools

    import moto.backends as backends
    import moto.core.responses as responses

    modules = tuple(backends.list_of_moto_modules())
    replace(backends, "list_of_moto_modules", lambda: modules)
    method_names = responses.method_names_from_class
    names = functools.cache(lambda clazz: frozenset(method_names(clazz)))
    replace(responses, "method_names_from_class", names)
