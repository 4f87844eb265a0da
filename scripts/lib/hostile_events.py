"""Writes API Gateway v2 events with hostile input, built from the sample events in events/,
for scripts/bench: each must be refused (4xx) quickly, however big it is.

usage: hostile_events.py EVENTS_DIR OUT_DIR   (prints FUNCTION=FILE specs for lambda_bench.py)
"""

import json
import os
import sys


def load(events_dir, name):
    with open(os.path.join(events_dir, name)) as f:
        return json.load(f)


def main():
    events_dir, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    specs = []

    def write(function, name, event):
        path = os.path.join(out, name)
        with open(path, "w") as f:
            json.dump(event, f)
        specs.append(f"{function}={path}")

    create = load(events_dir, "create-conversation.json")
    e = json.loads(json.dumps(create))
    e["body"] = json.dumps({"title": "big", "members": [f"user{i}" for i in range(32_000)]})
    write("conversations", "hostile-32k-members.json", e)
    e = json.loads(json.dumps(create))
    e["body"] = json.dumps({"title": "big", "members": [f"user{i}" for i in range(3_000)]})
    write("conversations", "hostile-3k-members.json", e)

    upload = load(events_dir, "create-upload.json")
    e = json.loads(json.dumps(upload))
    e["body"] = json.dumps({"client_msg_id": "h", "name": "a", "size": "x" * 1_000_000, "content_type": "text/plain"})
    write("upload-file", "hostile-1mb-type-error.json", e)
    e = json.loads(json.dumps(upload))
    e["body"] = json.dumps({"client_msg_id": "h", "name": "x" * 50_000, "size": 1, "content_type": "text/plain"})
    write("upload-file", "hostile-50k-name.json", e)

    post = load(events_dir, "post-message.json")
    e = json.loads(json.dumps(post))
    e["body"] = json.dumps({"client_msg_id": "h", "text": "x" * 5_000_000})
    write("post-message", "hostile-5mb-text.json", e)

    pull = load(events_dir, "pull-messages.json")
    e = json.loads(json.dumps(pull))
    e["rawQueryString"] = "&".join(f"p{i}=1" for i in range(5_000))
    write("pull-messages", "hostile-5k-query-params.json", e)

    print(" ".join(specs))


if __name__ == "__main__":
    main()
