"""Two places where moto's S3 falls short of what GroupShare relies on, made to behave as S3.

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

2. Event notifications carry what S3's carry: the object version (`s3.object.versionId`,
   which the upload-completed handler needs to delete stray versions), and `userIdentity`,
   `requestParameters` and `responseElements`, without which the Lambda event types refuse
   the record.

Pinned to moto 5.2.x (`S3Response._bucket_response_post`, `notifications._get_s3_event`).
Call `install()` before any request is handled (and before a journal replays).
"""

import base64
import hashlib
import json

from moto.s3 import notifications
from moto.s3.responses import S3Response

_original_post = S3Response._bucket_response_post


def _error(code, message):
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return 400, {"Content-Type": "application/xml"}, body


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


def install():
    S3Response._bucket_response_post = _post_like_s3
    notifications._get_s3_event = _event_with_version
