"""The deployed stack's limits on paper: peak rates against each limit, per user tier and per
group size, computed from docs/cost.md's usage and per-request tables and docs/scale.md's own
inputs (workload assumptions, limits, routes, group sizes). Writes the generated tables between
the `scale-tiers`, `scale-groups` and `scale-scenarios` markers of docs/scale.md.

    scripts/scale-model            # rewrite the generated tables in docs/scale.md
    scripts/scale-model --check    # fail if docs/scale.md's tables are not what the inputs give

Standard library only. Every rate is a peak: the month's average second times
`peak_to_average`. Limits grow linearly with users unless a row says otherwise, so "binds at"
is the tier's users scaled by limit / rate.
"""
import importlib.machinery
import importlib.util
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SCALE_DOC = ROOT / "docs" / "scale.md"
COST_DOC = ROOT / "docs" / "cost.md"
MONTH_S = 30 * 86400


def _cost_model():
    """scripts/cost-model as a module: its table parser and its per-request table."""
    path = str(ROOT / "scripts" / "cost-model")
    loader = importlib.machinery.SourceFileLoader("cost_model", path)
    spec = importlib.util.spec_from_loader("cost_model", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


cost_model = _cost_model()
table, number = cost_model.table, cost_model.number


def keyed(text, marker):
    """`| key | value | ... |` rows as {key: value}."""
    return {r[0].strip("`"): number(r[1]) for r in table(text, marker)}


def per_user(cell, usage):
    """A sum of usage keys, e.g. "`history_pages_per_user` + `sessions_per_user`"."""
    keys = re.findall(r"`([a-z_]+)`", cell)
    if not keys:
        raise ValueError(f"no usage key in {cell!r}")
    return sum(usage[k] for k in keys)


def fmt(v):
    if v == 0:
        return "0"
    if abs(v) < 0.001:
        return "< 0.001"
    if abs(v) < 0.1:
        return f"{v:.2g}"
    if abs(v) < 10:
        return f"{v:.2f}"
    if abs(v) < 100:
        return f"{v:.1f}"
    return f"{v:,.0f}"


def users(n):
    if n >= 1e6:
        return f"{n / 1e6:.3g} M"
    if n >= 1e3:
        return f"{n / 1e3:.3g}k"
    return f"{n:.3g}"


def pct(x):
    return f"{x:,.0%}"


class Inputs:
    def __init__(self, scale_text, cost_text):
        self.usage = keyed(cost_text, "usage")
        self.requests = table(cost_text, "requests")
        self.inputs = keyed(scale_text, "scale-inputs")
        self.limits = keyed(scale_text, "limits")
        self.routes = table(scale_text, "routes")
        self.groups = [(int(number(r[0])), number(r[1]) / 100) for r in table(scale_text, "groups")]
        line = next(l for l in scale_text.splitlines() if l.startswith("Monthly active users modelled:"))
        self.tiers = [int(number(c)) for c in re.findall(r"[\d,]+", line.split(":", 1)[1])]
        # Usage keys of both documents (scale.md adds a few, e.g. pings_per_user).
        self.all_usage = {**self.usage, **self.inputs}

    def peak(self, n, per_user_month):
        """Requests per second at peak for n users doing per_user_month each a month."""
        return n * per_user_month / MONTH_S * self.inputs["peak_to_average"]

    def request_sum(self, column):
        """Σ over docs/cost.md's request rows of column × the row's uses per user per month."""
        index = {"api": 2, "invocations": 3, "rru": 5, "wru": 6, "s3_put": 7, "s3_get": 8}[column]
        return sum(number(r[index]) * self.usage[r[1].strip("`")] for r in self.requests)

    def lambda_seconds(self):
        """Σ invocations × warm ms per user per month, in seconds."""
        return sum(number(r[3]) * number(r[4]) * self.usage[r[1].strip("`")]
                   for r in self.requests) / 1000

    def fanout_ms(self):
        row = next(r for r in self.requests if r[0].startswith("fan-out"))
        return number(row[4])

    def connected_share(self):
        """Share of a group's member devices connected when a message is sent, implied by the
        cost model's frames per message and the group size distribution."""
        u, i = self.usage, self.inputs
        devices_per_message = sum(share * (g - 1) * i["devices_per_user"] for g, share in self.groups)
        return u["frames_per_user"] / u["messages_per_user"] / devices_per_message


def tier_checks(m):
    """(name, limit key, per-tier rate function, scales linearly with users)."""
    u, i, lim = m.all_usage, m.inputs, m.limits
    appends = sum(u[k] for k in ("messages_per_user", "uploads_per_user", "member_adds_per_user",
                                 "invite_joins_per_user", "leaves_per_user", "groups_created_per_user"))
    checks = []
    for route, cell, limit_key in m.routes:
        checks.append((f"route {route}", limit_key.strip("`"),
                       (lambda n, c=cell: m.peak(n, per_user(c, u))), True))
    account = (m.request_sum("api") + u["sessions_per_user"] + u["pings_per_user"] + u["frames_per_user"]
               + u.get("read_frames_per_user", 0))
    checks += [
        ("API Gateway account (HTTP + WebSocket in + posts)", "apigw_account_rps",
         lambda n: m.peak(n, account), True),
        ("WebSocket new connections", "ws_new_connections_per_s",
         lambda n: m.peak(n, u["sessions_per_user"]), True),
        ("Cognito UserAuthentication (refresh + sign-in)", "cognito_user_auth_rps",
         lambda n: m.peak(n, u["sessions_per_user"] * i["refreshes_per_session"] + i["sign_ins_per_user"]), True),
        ("Lambda concurrency (all functions)", "lambda_concurrency",
         lambda n: m.peak(n, m.lambda_seconds()), True),
        ("Lambda invocations/s (10 × concurrency)", "lambda_rps",
         lambda n: m.peak(n, m.request_sum("invocations")), True),
        ("DynamoDB, all tables' RRU/s vs one table's", "ddb_table_units",
         lambda n: m.peak(n, m.request_sum("rru")), True),
        ("DynamoDB, all tables' WRU/s vs one table's", "ddb_table_units",
         lambda n: m.peak(n, m.request_sum("wru")), True),
        ("DynamoDB messages table WRU/s vs a new on-demand table (launch day)", "ddb_new_table_wru",
         lambda n: m.peak(n, appends * 2 * i["message_item_kb"]), True),
        ("push fan-out lanes (stream shards × 10)", None,
         lambda n: m.peak(n, appends) * m.fanout_ms() / 1000, False),
        ("S3 PUT/POST/DELETE, whole bucket as one prefix", "s3_prefix_put_rps",
         lambda n: m.peak(n, m.request_sum("s3_put")), True),
        ("S3 GET/HEAD, whole bucket as one prefix", "s3_prefix_get_rps",
         lambda n: m.peak(n, m.request_sum("s3_get")), True),
    ]
    return checks


def lanes(m, n):
    """Concurrent fan-out batches the stream allows: one shard per messages-table partition (a
    partition per 10 GB of data, at least the partitions of a new on-demand table), times the
    parallelization factor."""
    i, lim = m.inputs, m.limits
    gb = n * m.usage["table_kb_per_user"] * i["messages_share_of_storage"] / 1e6
    shards = max(int(i["min_partitions"]), math.ceil(gb / i["gb_per_partition"]))
    return shards * lim["parallelization_factor"], shards


# Limits the template sets (a parameter away), as opposed to AWS quotas.
TEMPLATE_LIMITS = {"apigw_route_rps", "apigw_upload_route_rps", "ws_route_rps"}


def render_tiers(m):
    heads = ["limit: peak rate / limit"] + [f"{users(n)} MAU" for n in m.tiers] + ["binds at"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    worst = {n: (0.0, "") for n in m.tiers}
    worst_quota = {n: (0.0, "") for n in m.tiers}
    for name, key, rate, linear in tier_checks(m):
        cells = [name]
        for n in m.tiers:
            r = rate(n)
            if key is None:
                limit, shards = lanes(m, n)
                cells.append(f"{fmt(r)} / {fmt(limit)} ({shards} shards): {pct(r / limit)}")
            else:
                limit = m.limits[key]
                cells.append(f"{fmt(r)} / {fmt(limit)}: {pct(r / limit)}")
            if r / limit > worst[n][0]:
                worst[n] = (r / limit, name)
            if key not in TEMPLATE_LIMITS and r / limit > worst_quota[n][0]:
                worst_quota[n] = (r / limit, name)
        if linear:
            n = m.tiers[-1]
            cells.append(f"{users(n * m.limits[key] / rate(n))} MAU")
        else:
            cells.append("grows with data")
        lines.append("| " + " | ".join(cells) + " |")

    def first(w):
        util, name = w
        return f"**{name}** ({pct(util)})" if util >= 1 else f"none (nearest: {name}, {pct(util)})"

    lines.append("| **binds first** | " + " | ".join(first(worst[n]) for n in m.tiers) + " | |")
    lines.append("| **first AWS quota to bind** | " + " | ".join(
        first(worst_quota[n]) for n in m.tiers) + " | |")
    return "\n".join(lines)


def group_rows(m):
    i, lim, u = m.inputs, m.limits, m.usage
    share = m.connected_share()
    seq_ceiling = 1000 / (i["t_get_ms"] + i["t_transact_ms"])
    partition_ceiling = lim["ddb_partition_wcu"] / (2 * i["message_item_kb"])
    max_text_ceiling = lim["ddb_partition_wcu"] / (2 * i["max_text_item_kb"])
    rows = []
    for g, _ in m.groups:
        avg = m.peak(g, u["messages_per_user"] / i["groups_per_user"])
        burst = i["burst_senders_share"] * g / i["burst_seconds"]
        c_typ = g * i["devices_per_user"] * share
        c_all = g * i["devices_per_user"]
        reads_ms = i["t_query_ms"] + math.ceil(g / (100 * lim["concurrent_batches"])) * i["t_batch_get_ms"]

        def fanout_ms(c):
            return reads_ms + math.ceil(c / lim["concurrent_posts"]) * i["t_post_ms"]

        def lane_ceiling(c):
            return 1000 / (max(1, math.ceil(c / lim["concurrent_posts"])) * i["t_post_ms"])

        batch_s = (reads_ms + math.ceil(c_all / lim["concurrent_posts"]) * lim["batch_size"] * i["t_post_ms"]) / 1000
        burst_posts = min(burst, lane_ceiling(c_all)) * c_all
        rows.append(dict(g=g, avg=avg, burst=burst, seq=seq_ceiling, partition=partition_ceiling,
                         max_text=max_text_ceiling, c_typ=c_typ, c_all=c_all,
                         ms_typ=fanout_ms(c_typ), ms_all=fanout_ms(c_all),
                         lane_typ=lane_ceiling(c_typ), lane_all=lane_ceiling(c_all),
                         burst_posts=burst_posts, batch_s=batch_s))
    return rows, share


def render_groups(m):
    rows, share = group_rows(m)
    lim = m.limits
    out = [f"Share of a group's devices connected when a message is sent, implied by the cost model\n"
           f"(`frames_per_user` over the devices the group sizes give): **{share:.1%}** (typical);\n"
           f"\"all\" is every device connected (a live event).",
           "",
           "| members | sends/s at peak (typical / burst) | append ceiling (contention / partition / 16 KiB texts) | "
           "devices connected (typical / all) | fan-out ms per message (typical / all) | "
           "push ceiling, messages/s (typical / all) | burst posts/s vs account | "
           "100-record batch, all connected | binds first in a burst |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        limits = {
            "append contention": r["burst"] / r["seq"],
            "push lane": r["burst"] / r["lane_all"],
            "API Gateway account": r["burst_posts"] / lim["apigw_account_rps"],
        }
        name, util = max(limits.items(), key=lambda kv: kv[1])
        binds = f"{name} ({pct(util)})" if util >= 1 else f"none (nearest: {name}, {pct(util)})"
        out.append("| " + " | ".join([
            f"{r['g']:,}",
            f"{fmt(r['avg'])} / {fmt(r['burst'])}",
            f"{fmt(r['seq'])} / {fmt(r['partition'])} / {fmt(r['max_text'])}",
            f"{fmt(r['c_typ'])} / {fmt(r['c_all'])}",
            f"{fmt(r['ms_typ'])} / {fmt(r['ms_all'])}",
            f"{fmt(r['lane_typ'])} / {fmt(r['lane_all'])}",
            f"{fmt(r['burst_posts'])}: {pct(r['burst_posts'] / lim['apigw_account_rps'])}",
            f"{fmt(r['batch_s'])} s of {fmt(lim['fanout_timeout_s'])} s",
            binds,
        ]) + " |")
    return "\n".join(out)


def render_scenarios(m):
    """Hot-group events: what one group does to the shared limits."""
    i, lim = m.inputs, m.limits
    g = max(g for g, _ in m.groups)
    d = i["devices_per_user"]
    rows, _ = group_rows(m)
    big = next(r for r in rows if r["g"] == g)
    out = ["| scenario (one group of {:,}, all devices connected) | what it asks | against | result |".format(g),
           "|---|---|---|---|"]
    # A burst: burst_senders_share of members send within burst_seconds.
    messages = i["burst_senders_share"] * g
    drain_s = messages / big["lane_all"]
    out.append(
        f"| burst: {i['burst_senders_share']:.0%} of members send within {fmt(i['burst_seconds'])} s "
        f"| {fmt(messages)} messages, {fmt(messages * big['c_all'])} posts "
        f"| push lane {fmt(big['lane_all'])} messages/s | last frame {fmt(drain_s)} s after its send "
        f"(iterator age; alarm at 60 s, records dropped at {fmt(lim['max_record_age_s'])} s) |")
    # Ten times the burst.
    messages10 = 10 * messages
    rate10 = messages10 / i["burst_seconds"]
    out.append(
        f"| 10× that burst | {fmt(rate10)} sends/s for {fmt(i['burst_seconds'])} s "
        f"| append ceiling {fmt(big['seq'])}/s | committing them takes {fmt(messages10 / big['seq'])} s: "
        f"sends still waiting after {fmt(lim['append_deadline_s'])} s get a 503 and are retried; "
        f"pushing them would take {fmt(messages10 / big['lane_all'])} s, past the "
        f"{fmt(lim['max_record_age_s'])} s record age (dropped; clients read history) |")
    # A join storm: everyone joins by one invite link within join_storm_minutes.
    seconds = i["join_storm_minutes"] * 60
    posts = d * g * (g - 1) / 2
    out.append(
        f"| join storm: all {g:,} join by invite within {fmt(i['join_storm_minutes'])} min "
        f"| {fmt(g / seconds)} appends/s, each `member_joined` pushed to everyone in so far: {fmt(posts)} posts "
        f"| API Gateway account {fmt(lim['apigw_account_rps'])}/s | {fmt(posts / seconds)} posts/s: "
        f"{posts / seconds / lim['apigw_account_rps']:.0%} of the account's rate for the whole storm |")
    # A shared file everyone downloads within a minute.
    out.append(
        f"| a file everyone opens within a minute | {fmt(g * d / 60)} GET/s on one key "
        f"| S3 {fmt(lim['s3_prefix_get_rps'])} GET/s per prefix | {g * d / 60 / lim['s3_prefix_get_rps']:.1%} |")
    return "\n".join(out)


def render_workload(m):
    """The per-user figures every check uses, and what they come to per second at peak."""
    u, i = m.all_usage, m.inputs
    appends = sum(u[k] for k in ("messages_per_user", "uploads_per_user", "member_adds_per_user",
                                 "invite_joins_per_user", "leaves_per_user", "groups_created_per_user"))
    rows = [
        ("sends (`POST …/messages`)", u["messages_per_user"], "`messages_per_user`"),
        ("appends to history (sends, files, membership changes)", appends, "cost.md usage"),
        ("HTTP API requests, all routes", m.request_sum("api"), "cost.md requests × usage"),
        ("frames pushed (`PostToConnection`)", u["frames_per_user"], "`frames_per_user`"),
        ("read frames pushed (`PostToConnection`)", u.get("read_frames_per_user", 0), "`read_frames_per_user`"),
        ("push sessions (`$connect`)", u["sessions_per_user"], "`sessions_per_user`"),
        ("keep-alives (`$default`)", u["pings_per_user"], "`pings_per_user`"),
        ("Cognito token requests (refresh, sign-in)",
         u["sessions_per_user"] * i["refreshes_per_session"] + i["sign_ins_per_user"], "scale inputs"),
        ("Lambda invocations", m.request_sum("invocations"), "cost.md requests × usage"),
        ("Lambda busy seconds", m.lambda_seconds(), "invocations × warm ms"),
        ("DynamoDB read units", m.request_sum("rru"), "cost.md requests × usage"),
        ("DynamoDB write units", m.request_sum("wru"), "cost.md requests × usage"),
        ("S3 PUT-class / GET-class", None, "cost.md requests × usage"),
    ]
    heads = ["per user per month", "value", "from"] + [f"peak/s at {users(n)}" for n in m.tiers]
    out = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for name, v, source in rows:
        if v is None:
            put, get = m.request_sum("s3_put"), m.request_sum("s3_get")
            cells = [name, f"{fmt(put)} / {fmt(get)}", source] + [
                f"{fmt(m.peak(n, put))} / {fmt(m.peak(n, get))}" for n in m.tiers]
        else:
            cells = [name, fmt(v), source] + [fmt(m.peak(n, v)) for n in m.tiers]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


SECTIONS = [("scale-workload", render_workload), ("scale-tiers", render_tiers), ("scale-groups", render_groups),
            ("scale-scenarios", render_scenarios)]


def update(text, cost_text):
    m = Inputs(text, cost_text)
    for marker, render in SECTIONS:
        begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
        start, stop = text.index(begin) + len(begin), text.index(end)
        text = text[:start] + "\n" + render(m) + "\n" + text[stop:]
    return text


def main():
    text = SCALE_DOC.read_text()
    updated = update(text, COST_DOC.read_text())
    if "--check" in sys.argv[1:]:
        if updated != text:
            sys.exit("docs/scale.md: the generated tables are stale; run scripts/scale-model")
        print("scale-model: docs/scale.md is up to date")
        return
    SCALE_DOC.write_text(updated)
    for marker, _ in SECTIONS:
        begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
        print(updated[updated.index(begin) + len(begin):updated.index(end)].strip() + "\n")


if __name__ == "__main__":
    main()
