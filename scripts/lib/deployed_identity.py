"""Runs built function binaries (the `bootstrap` files `cargo lambda build` makes) as Lambda
runs them and checks that none of them takes `X-Dev-User` for an identity.

A minimal Lambda Runtime API (the protocol the real service speaks to a `provided.al2023`
bootstrap; lambda_runtime_api.py) hands each binary, in one process, two API Gateway HTTP API
(v2) events made from its sample event in events/:

* dev: `X-Dev-User: alice`, no `Authorization` header and no `requestContext.authorizer`;
  the function must answer 401 `unauthenticated`;
* control: the sample event as it is, with the JWT authorizer's claims; the function must get
  past identity (anything but 401), proving the 401 above comes from the missing claims alone.

Storage is a closed port: identity is decided before any storage call, and the control only has
to show it got further. Also checks the header's name is not in the binary at all.

usage: deployed_identity.py LABEL LAMBDA_DIR FUNCTION=EVENT...
Prints one `ok`/`FAIL` line per check.
"""

import copy
import json
import os
import subprocess
import sys

from lambda_runtime_api import Runtime


def dev_event(event):
    dev = copy.deepcopy(event)
    dev["requestContext"].pop("authorizer", None)
    headers = {k: v for k, v in dev.get("headers", {}).items() if k.lower() != "authorization"}
    headers["x-dev-user"] = "alice"
    dev["headers"] = headers
    return dev


def invoke(binary, events):
    rt = Runtime(events)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": rt.start(),
        "AWS_LAMBDA_FUNCTION_NAME": os.path.basename(os.path.dirname(binary)),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "ERROR",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "check",
        "AWS_SECRET_ACCESS_KEY": "check",
        "AWS_EC2_METADATA_DISABLED": "true",
        # Nothing listens here: no storage call can succeed.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "CONVERSATIONS_TABLE": "conversations",
        "MEMBERS_TABLE": "members",
        "MESSAGES_TABLE": "messages",
        "FILES_TABLE": "files",
        "IDEMPOTENCY_TABLE": "idempotency",
        "CONNECTIONS_TABLE": "connections",
        "PROFILES_TABLE": "profiles",
        "INVITES_TABLE": "invites",
        "FILE_SEARCH_TABLE": "file-search",
        "FILES_BUCKET": "files",
        "S3_FORCE_PATH_STYLE": "true",
    }
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finished = rt.done.wait(60)
    proc.kill()
    proc.wait()
    rt.shutdown()
    if not finished:
        return None
    return rt.answers


def describe(answer):
    if answer is None:
        return "no answer"
    if "invocation_error" in answer:
        return f"invocation error {answer['invocation_error']}"
    status = answer.get("statusCode")
    try:
        code = json.loads(answer.get("body") or "{}").get("error", {}).get("code")
    except Exception:
        code = None
    return f"{status} {code}" if code else f"{status}"


def main():
    label, lambda_dir = sys.argv[1], sys.argv[2]
    failed = 0

    def check(ok, what):
        nonlocal failed
        print(f"  {'ok  ' if ok else 'FAIL'} {label}: {what}")
        failed += 0 if ok else 1

    for spec in sys.argv[3:]:
        function, event_file = spec.split("=")
        binary = os.path.join(lambda_dir, function, "bootstrap")
        if not os.path.exists(binary):
            check(False, f"{function}: no binary at {binary}")
            continue
        with open(binary, "rb") as f:
            check(b"x-dev-user" not in f.read().lower(), f"{function}: the binary does not contain 'x-dev-user'")
        with open(event_file) as f:
            event = json.load(f)
        answers = invoke(binary, [dev_event(event), event]) or []
        dev, control = (answers + [None, None])[:2]
        dev_ok = dev is not None and dev.get("statusCode") == 401 and describe(dev) == "401 unauthenticated"
        check(dev_ok, f"{function}: X-Dev-User without claims ({os.path.basename(event_file)}) -> {describe(dev)}")
        control_ok = control is not None and "invocation_error" not in control and control.get("statusCode") not in (None, 401)
        check(control_ok, f"{function}: the same event with JWT claims gets past identity -> {describe(control)}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
