"""Where moto's S3 falls short of what GroupShare relies on, made to behave as S3.

1. Browser-form (presigned POST) uploads, checked the way S3 checks them.

moto stores a POST upload as given: it ignores the policy's `content-length-range`, drops the
`x-amz-checksum-sha256` field (so HeadObject reports no checksum and wrong bytes are kept) and
answers without `x-amz-version-id`. GroupShare depends on all three (exact size, declared hash
confirmed by storage, completed version pinned), so this patch adds them to moto's handler:

* a body outside the policy's `content-length-range` is refused (EntityTooSmall/EntityTooLarge);
* a body whose SHA-256 differs from `x-amz-checksum-sha256` is refused (BadDigest), and a
  matching one is stored with that checksum, reported by HeadObject with ChecksumMode=ENABLED;
* the response carries `x-amz-version-id` for versioned buckets.

Signatures and expiry are still not checked here: s3s-fs covers those in the tests.

2. Multipart uploads with SHA-256 part checksums (CreateMultipartUpload with
   ChecksumAlgorithm=SHA256, parts sent with `x-amz-checksum-sha256`), as S3 handles them.
   moto keeps a part whatever its declared checksum, leaves the checksums out of ListParts,
   ignores them in CompleteMultipartUpload and fails with a 500 for an unknown upload id:

* a part whose SHA-256 differs from `x-amz-checksum-sha256` is refused (BadDigest);
* UploadPart and CompleteMultipartUpload for an unknown (aborted, completed) upload answer
  404 NoSuchUpload;
* ListParts answers with S3's root element, `ListPartsResult` (moto's `ListPartsResponse` is
  refused by the SDKs), and reports each part's ChecksumSHA256 for SHA-256 uploads;
* HeadObject reports a multipart object's checksum as S3 does, `<base64>-<part count>` with
  `x-amz-checksum-type: COMPOSITE` (moto leaves out both, though its GetObject has them);
* CompleteMultipartUpload builds a SHA-256 upload's composite checksum from the digests kept
  when the parts arrived, instead of hashing the whole object again;
* CompleteMultipartUpload of a SHA-256 upload refuses a part listed without its checksum or
  with another one (InvalidPart).

3. Event notifications carry what S3's carry: the object version (`s3.object.versionId`,
   which the upload-completed handler needs to delete stray versions), and `userIdentity`,
   `requestParameters` and `responseElements`, without which the Lambda event types refuse
   the record.

4. Presigned URLs (SigV4 in the query: `X-Amz-Signature`) are verified as S3 verifies them.
   moto serves a presigned URL whatever was done to it, so a URL whose signed parameters were
   stripped (the forced-download `response-content-disposition`, the `versionId`), whose
   signature or signed headers differ, or which has expired, still works. Now:

* the canonical request is rebuilt from the request as received (method, path, query without
  `X-Amz-Signature`, the headers named in `X-Amz-SignedHeaders`, `UNSIGNED-PAYLOAD`) and signed
  with the secret of the access key in `X-Amz-Credential`; a different signature is refused
  (403 SignatureDoesNotMatch);
* a URL past `X-Amz-Date` + `X-Amz-Expires` is refused (403 AccessDenied, Request has expired);
* CORS preflights (OPTIONS to a presigned URL) are not checked, as S3 does not check them;
* only access keys in `PRESIGN_SECRETS` (the local stack's and the tests') are checked: a URL
  of any other key, like every header-signed SDK call, is left alone as moto leaves it.

5. ListObjectVersions costs what it lists. moto deep-copies every version of every key in the
   bucket (each object's bytes included) on each call, then filters by prefix: with a 1.3 GB
   bucket one listing took 5-10 s, and the deletions that list an object's versions hit their
   deadline. `S3Backend.list_object_versions` is replaced by moto's own code with two changes:

* only key names under the prefix are visited (names are filtered before any version is read);
* the listing's `is_latest` is kept on a light view of each stored version instead of on a
  deep copy, so no object and no object's bytes are copied, and the stored versions stay
  unmarked as before. Versions with the same LastModified millisecond are listed newest first,
  as stored (moto listed the oldest first and called it the latest).

Pinned to moto 5.2.x (`S3Backend.list_object_versions`, `S3Response._bucket_response_post`, `S3Response.upload_part`,
`S3Response.list_parts`, `S3Response._key_response_post`, `S3Response.head_object`,
`S3Response.key_response`, `S3Response.bucket_response`, `notifications._get_s3_event`).
Call `install()` before any request is handled (and before a journal replays).
"""

import base64
import datetime
import hashlib
import hmac
import json
import re
from urllib.parse import quote, unquote, unquote_to_bytes, urlsplit
from xml.dom import minidom

import moto.s3.models as s3_models
from moto.s3 import notifications
from moto.s3.responses import S3Response

_original_post = S3Response._bucket_response_post


def _error(code, message, status=400):
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return status, {"Content-Type": "application/xml"}, body


def _sha256_b64(data):
    return base64.b64encode(hashlib.sha256(bytes(data)).digest()).decode()


def _multipart(response, upload_id):
    try:
        bucket = response.backend.get_bucket(response.bucket_name)
    except Exception:  # noqa: BLE001 - moto's own NoSuchBucket follows in the original call
        return None
    return bucket.multiparts.get(upload_id)


def _part_sha256(part):
    """A part's SHA-256 (base64), hashed once when it arrived: listing and completing a 200 MiB
    upload must not hash it all again (S3 keeps the checksum with the part)."""
    cached = getattr(part, "_groupshare_sha256", None)
    if cached is None:
        cached = _sha256_b64(part.value)
        part._groupshare_sha256 = cached
    return cached


def _uses_sha256(multipart):
    return (multipart.metadata.get("x-amz-checksum-algorithm") or "").upper() == "SHA256"


_original_upload_part = S3Response.upload_part


def _upload_part_like_s3(self):
    multipart = _multipart(self, self._get_param("uploadId"))
    if multipart is None:
        return _error("NoSuchUpload", "The specified upload does not exist.", 404)
    body = self.body if isinstance(self.body, bytes) else (self.body or b"")
    if isinstance(body, str):
        body = body.encode()
    declared = self.headers.get("x-amz-checksum-sha256")
    actual = _sha256_b64(body)
    if declared is not None and declared != actual:
        return _error("BadDigest", "The SHA256 you specified did not match the calculated checksum.")
    status, headers, out = _original_upload_part(self)
    stored = multipart.parts.get(int(self._get_param("partNumber") or 0))
    if status == 200 and stored is not None:
        stored._groupshare_sha256 = actual
    if _uses_sha256(multipart):
        headers = dict(headers)
        headers["x-amz-checksum-sha256"] = actual
    return status, headers, out


_original_list_parts = S3Response.list_parts


def _list_parts_like_s3(self):
    status, headers, out = _original_list_parts(self)
    if status != 200:
        return status, headers, out
    # S3's root element (the SDKs refuse moto's `ListPartsResponse`).
    text = out.decode() if isinstance(out, bytes) else out
    text = text.replace("<ListPartsResponse", "<ListPartsResult").replace(
        "</ListPartsResponse>", "</ListPartsResult>"
    )
    multipart = _multipart(self, self._get_param("uploadId"))
    if multipart is None or not _uses_sha256(multipart):
        return status, headers, text

    def with_checksum(match):
        part = multipart.parts.get(int(match.group(1)))
        if part is None:
            return match.group(0)
        return f"{match.group(0)}<ChecksumSHA256>{_part_sha256(part)}</ChecksumSHA256>"

    return status, headers, re.sub(r"<PartNumber>(\d+)</PartNumber>", with_checksum, text)


_original_head = S3Response.head_object


def _head_like_s3(self, bucket_name, query, key_name, headers):
    status, response_headers, out = _original_head(self, bucket_name, query, key_name, headers)
    if status != 200 or headers.get("x-amz-checksum-mode") != "ENABLED":
        return status, response_headers, out
    try:
        key = self.backend.head_object(
            bucket_name, key_name, version_id=query.get("versionId", [None])[0]
        )
    except Exception:  # noqa: BLE001 - the original answer stands
        return status, response_headers, out
    if key is not None and key.checksum_algorithm and key.checksum_type == "COMPOSITE":
        name = f"x-amz-checksum-{key.checksum_algorithm.lower()}"
        response_headers = dict(response_headers)
        response_headers[name] = f"{key.checksum_value}-{key.checksum_parts}"
        response_headers["x-amz-checksum-type"] = "COMPOSITE"
    return status, response_headers, out


_original_key_post = S3Response._key_response_post


def _key_post_like_s3(self, request, body, bucket_name, query, key_name):
    upload_id = (query.get("uploadId") or [None])[0]
    multipart = _multipart(self, upload_id) if upload_id else None
    if upload_id and multipart is None:
        # Completing an aborted (or already completed) upload: S3 says NoSuchUpload; moto
        # fails with a 500.
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
                    f"The upload was created using a sha256 checksum. The complete request must include the checksum for each part. It was missing or wrong for part {number} in the request.",
                )
    return _original_key_post(self, request, body, bucket_name, query, key_name)


def _field(querystring, name):
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


def _post_like_s3(self, request, bucket_name):
    if self.is_delete_keys() or "key" not in self.querystring:
        return _original_post(self, request, bucket_name)
    body = self.body if isinstance(self.body, bytes) else (self.body or b"")
    if isinstance(body, str):
        body = body.encode()
    policy = _field(self.querystring, "policy")
    bounds = _length_range(policy) if policy else None
    if bounds is not None:
        low, high = bounds
        if len(body) < low:
            return _error("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size")
        if len(body) > high:
            return _error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
    declared = _field(self.querystring, "x-amz-checksum-sha256")
    actual = base64.b64encode(hashlib.sha256(body).digest()).decode()
    if declared is not None and declared != actual:
        return _error("BadDigest", "The SHA256 you specified did not match the calculated checksum.")

    status, headers, out = _original_post(self, request, bucket_name)
    key = self.backend.get_object(bucket_name, self.querystring["key"][0])
    if key is not None:
        if declared is not None:
            key.checksum_algorithm = "SHA256"
            key.checksum_value = declared
        if key.version_id and key.version_id != "null":
            headers = dict(headers)
            headers["x-amz-version-id"] = key.version_id
    return status, headers, out


_original_event = notifications._get_s3_event


def _event_with_version(event_name, bucket, key, notification_id):
    event = _original_event(event_name, bucket, key, notification_id)
    version = getattr(key, "version_id", None)
    for record in event["Records"]:
        record.setdefault("userIdentity", {"principalId": "local"})
        record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
        record.setdefault("responseElements", {})
        if version and version != "null":
            record["s3"]["object"]["versionId"] = version
    return event


_original_complete = s3_models.FakeMultipart.complete


def _complete_with_kept_part_checksums(self, body):
    """moto's CompleteMultipartUpload, but a SHA-256 upload's composite checksum is built from
    the digests kept when each part arrived instead of hashing every part again (the whole
    object: half a second for 200 MiB, a cost S3 does not have)."""
    listed = list(body)
    kept = []
    for number, _ in listed:
        part = self.parts.get(number)
        digest = getattr(part, "_groupshare_sha256", None) if part is not None else None
        kept.append(base64.b64decode(digest) if digest else None)
    original_builder = s3_models.MultipartChecksumBuilder

    class KeptDigests(original_builder):
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
        return _original_complete(self, iter(listed))
    finally:
        s3_models.MultipartChecksumBuilder = original_builder


# Access key -> secret of the keys whose presigned URLs are verified: the local stack's
# (scripts/local) and the tests'. moto accepts any key; URLs of other keys are not checked.
PRESIGN_SECRETS = {"local": "local", "test": "test"}
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # S3's limit for X-Amz-Expires


def _query_pairs(raw_query):
    """The raw query string's (name, value) pairs, percent-decoded (`+` stays `+`, as S3 reads
    a SigV4 query)."""
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return pairs


def _uri_encode(text):
    # SigV4's encoding: everything but A-Z a-z 0-9 - _ . ~ is %XX (uppercase hex).
    return quote(text, safe="-_.~")


def _raw_path(environ):
    """The path as the client sent it (werkzeug keeps the request line in RAW_URI)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw is None:
        return quote(environ.get("PATH_INFO", "/").encode("latin-1"), safe="/")
    if not raw.startswith("/"):  # absolute-form request line
        raw = urlsplit(raw).path or "/"
    return raw.split("?", 1)[0]


def _presign_refusal(request):
    """None when the request may go on to moto; else S3's error answer for a presigned URL
    that does not verify or has expired."""
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
        return None  # an access key we have no secret for: left alone, as moto does
    secret = PRESIGN_SECRETS[credential[0]]
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
    names = params["X-Amz-SignedHeaders"].split(";")
    headers = ""
    for name in names:
        value = request.headers.get(name)
        if value is None:
            value = ""  # a signed header left out: the signature cannot match
        headers += f"{name}:{' '.join(value.split())}\n"
    canonical = "\n".join(
        [request.method, path, query, headers, params["X-Amz-SignedHeaders"], "UNSIGNED-PAYLOAD"])
    scope = "/".join(credential[1:])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in credential[1:]:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), params.get("X-Amz-Signature", "").encode()):
        return _error("SignatureDoesNotMatch",
                      "The request signature we calculated does not match the signature you "
                      "provided. Check your key and signing method.", 403)
    # The clock moto's S3 models read: frozen to the recorded time while the journal replays
    # a request, so a part PUT accepted live replays after its URL expired.
    now = s3_models.utcnow()
    if now.tzinfo is not None:
        now = now.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    if now > signed_at + datetime.timedelta(seconds=expires):
        return _error("AccessDenied", "Request has expired", 403)
    return None


_original_key_response = S3Response.key_response
_original_bucket_response = S3Response.bucket_response


def _refusal_bytes(request):
    refusal = _presign_refusal(request)
    if refusal is None:
        return None
    status, headers, body = refusal
    return status, headers, body.encode()


def _key_response_verified(self, request, full_url, headers):
    return _refusal_bytes(request) or _original_key_response(self, request, full_url, headers)


def _bucket_response_verified(self, request, full_url, headers):
    return _refusal_bytes(request) or _original_bucket_response(self, request, full_url, headers)


class _ListedVersion:
    """A stored version (FakeKey or FakeDeleteMarker) as one listing shows it: its own attributes,
    read through, plus the listing's `is_latest`."""

    __slots__ = ("version", "is_latest")

    def __init__(self, version):
        self.version = version
        self.is_latest = False

    def __getattr__(self, name):
        return getattr(self.version, name)


def _list_object_versions_under_prefix(self, bucket_name, delimiter=None, key_marker=None,
                                       max_keys=1000, prefix="", version_id_marker=None):
    """moto 5.2.5's `S3Backend.list_object_versions`, visiting only the prefix's keys and copying
    nothing (see 5. above); the paging loop below is moto's, unchanged but for the view."""
    bucket = self.get_bucket(bucket_name)
    prefix = prefix or ""

    common_prefixes = set()
    requested_versions = []
    delete_markers = []
    next_key_marker = None
    next_version_id_marker = None
    names = [name for name in dict.keys(bucket.keys) if name.startswith(prefix)]
    all_versions = [_ListedVersion(version) for name in names
                    for version in reversed(bucket.keys.getlist(name, []))]
    # sort by name, revert last-modified-date
    all_versions.sort(key=lambda r: (r.name, -s3_models.unix_time_millis(r.last_modified)))
    last_name = None

    skip_versions = True
    last_item_added = None
    for version in all_versions:
        name = version.name
        # guaranteed to be sorted - so the first key with this name will be the latest
        version.is_latest = name != last_name
        if version.is_latest:
            last_name = name

        # Pagination
        if skip_versions:
            if key_marker is None:
                skip_versions = False
            elif not version_id_marker:
                skip_versions = version.name < key_marker
                continue
            elif version.name == key_marker and version.version_id == version_id_marker:
                skip_versions = False
                continue
            else:
                continue

        # Filter for keys that start with prefix
        if not name.startswith(prefix):
            continue
        # separate keys that contain the same string between the prefix and the first occurrence
        # of the delimiter
        is_common_prefix = False
        if delimiter and delimiter in name[len(prefix):]:
            end_of_delimiter = (
                len(prefix) + name[len(prefix):].index(delimiter) + len(delimiter)
            )
            prefix_including_delimiter = name[0:end_of_delimiter]

            # Skip already-processed common prefix.
            if prefix_including_delimiter == key_marker:
                continue

            common_prefixes.add(prefix_including_delimiter)
            name = prefix_including_delimiter
            is_common_prefix = True
        elif last_item_added:
            name = last_item_added.name

        # Only return max_keys items.
        if (
            max_keys is not None
            and len(requested_versions) + len(delete_markers) + len(common_prefixes) >= max_keys
        ):
            next_key_marker = name
            if is_common_prefix:
                next_version_id_marker = None
            elif last_item_added is not None:
                next_version_id_marker = last_item_added.version_id
            else:
                next_version_id_marker = None
            break

        if not is_common_prefix:
            last_item_added = version
            # Differentiate between FakeKey and FakeDeleteMarkers
            if not isinstance(version.version, s3_models.FakeKey):
                delete_markers.append(version)
            else:
                requested_versions.append(version)

    return (
        requested_versions,
        sorted(common_prefixes),
        delete_markers,
        next_key_marker,
        next_version_id_marker,
    )


def install():
    s3_models.S3Backend.list_object_versions = _list_object_versions_under_prefix
    S3Response.key_response = _key_response_verified
    S3Response.bucket_response = _bucket_response_verified
    s3_models.FakeMultipart.complete = _complete_with_kept_part_checksums
    S3Response._bucket_response_post = _post_like_s3
    S3Response.upload_part = _upload_part_like_s3
    S3Response.list_parts = _list_parts_like_s3
    S3Response._key_response_post = _key_post_like_s3
    S3Response.head_object = _head_like_s3
    notifications._get_s3_event = _event_with_version
