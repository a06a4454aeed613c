#!/usr/bin/env python3
"""Deterministic Redis seed data for the sandbox.

  seed-redis.py resp TARGET      RESP command stream on stdout (for `redis-cli --pipe`)
  seed-redis.py cli TARGET       one quoted command per line (for `redis-cli -c`, Redis Cluster)
  seed-redis.py json             the counts as JSON (written to $STATE_DIR/seed.json)
  seed-redis.py verify TARGET    read `redis-cli --scan` output on stdin, compare with the counts

TARGET is `pod` (the in-cluster redis-0), `standalone` or `cluster`. Every target gets the eight
cache-type patterns of the runbook and a few keys outside them; `standalone` also gets
`tenant:a:*` and `tenant:b:*` for the ACL user. TTLs are days long, so counts stay exact for a
working session; `sandbox up` seeds again from scratch.
"""

import fnmatch
import json
import sys

DAY = 86400
SYMBOLS = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "BRK", "JPM", "XOM"]

# pattern -> list of (count, type, ttl-seconds-or-None, key-maker)
# Key names never contain "{" so Redis Cluster hash tags do not pin them to one slot.
PATTERNS = {
    "market:data:*": [
        (800, "string", None, lambda i: f"market:data:{SYMBOLS[i % 10]}:quote:{i}"),
        (200, "string", 3 * DAY, lambda i: f"market:data:{SYMBOLS[i % 10]}:tick:{i}"),
        (150, "hash", None, lambda i: f"market:data:{SYMBOLS[i % 10]}:ohlc:{i}"),
        (50, "zset", None, lambda i: f"market:data:{SYMBOLS[i % 10]}:history:{i}"),
    ],
    "news:data:*": [
        (250, "hash", None, lambda i: f"news:data:article:{i}"),
        (50, "hash", 2 * DAY, lambda i: f"news:data:breaking:{i}"),
        (70, "list", None, lambda i: f"news:data:feed:{i}"),
        (30, "stream", None, lambda i: f"news:data:events:{i}"),
    ],
    "session:*": [
        (500, "hash", 7 * DAY, lambda i: f"session:{i:08x}-web"),
        (100, "string", 7 * DAY, lambda i: f"session:{i:08x}-mobile"),
    ],
    "api:cache:*": [
        (450, "string", DAY, lambda i: f"api:cache:/v1/quotes/{SYMBOLS[i % 10]}?page={i}"),
        (50, "hash", DAY, lambda i: f"api:cache:/v1/portfolio/{i}"),
    ],
    "rate:limit:*": [
        (200, "string", 2 * DAY, lambda i: f"rate:limit:client-{i}:minute"),
        (100, "zset", 2 * DAY, lambda i: f"rate:limit:client-{i}:window"),
    ],
    "auth:token:*": [
        (200, "string", 2 * DAY, lambda i: f"auth:token:{i:012x}"),
    ],
    "metrics:*": [
        (100, "zset", None, lambda i: f"metrics:latency:endpoint-{i}"),
        (50, "stream", None, lambda i: f"metrics:events:{i}"),
        (50, "list", None, lambda i: f"metrics:samples:{i}"),
        (50, "hash", None, lambda i: f"metrics:counters:{i}"),
    ],
    "config:*": [
        (30, "hash", None, lambda i: f"config:service-{i}"),
        (20, "set", None, lambda i: f"config:flags-{i}"),
    ],
}
# Keys outside the cache-type patterns: a flush of a cache type must leave them alone.
OTHER = {
    "user:profile:*": [(100, "hash", None, lambda i: f"user:profile:{i}")],
    "lock:*": [(20, "string", 3 * DAY, lambda i: f"lock:job-{i}")],
}
STANDALONE_ONLY = {
    "tenant:a:*": [(50, "string", None, lambda i: f"tenant:a:item:{i}")],
    "tenant:b:*": [(50, "string", None, lambda i: f"tenant:b:item:{i}")],
}
TARGETS = ("pod", "standalone", "cluster")


def groups(target):
    yield from PATTERNS.items()
    yield from OTHER.items()
    if target == "standalone":
        yield from STANDALONE_ONLY.items()


def commands_for(kind, key, ttl, i):
    """The commands that create one key."""
    if kind == "string":
        value = json.dumps({"k": key, "v": i, "price": round(100 + i * 0.37, 2)}, separators=(",", ":"))
        yield ["SET", key, value] + (["EX", str(ttl)] if ttl else [])
        return
    if kind == "hash":
        yield ["HSET", key, "id", str(i), "name", f"item-{i}", "updated", str(1700000000 + i)]
    elif kind == "list":
        yield ["RPUSH", key] + [f"entry-{i}-{j}" for j in range(5)]
    elif kind == "set":
        yield ["SADD", key] + [f"flag-{j}" for j in range(4)]
    elif kind == "zset":
        args = []
        for j in range(5):
            args += [str(i + j), f"member-{j}"]
        yield ["ZADD", key] + args
    elif kind == "stream":
        for j in range(3):
            yield ["XADD", key, f"{1700000000000 + j}-{i}", "seq", str(j), "source", "sandbox"]
    else:
        raise ValueError(kind)
    if ttl:
        yield ["EXPIRE", key, str(ttl)]


def all_commands(target):
    for _pattern, parts in groups(target):
        for count, kind, ttl, make in parts:
            for i in range(count):
                yield from commands_for(kind, make(i), ttl, i)


def summary(parts):
    out = {"keys": 0, "types": {}, "with_ttl": 0}
    for count, kind, ttl, _ in parts:
        out["keys"] += count
        out["types"][kind] = out["types"].get(kind, 0) + count
        if ttl:
            out["with_ttl"] += count
    return out


def seed_json():
    totals = {t: sum(summary(p)["keys"] for _, p in groups(t)) for t in TARGETS}
    return {
        "patterns": {p: summary(parts) for p, parts in PATTERNS.items()},
        "other": {p: summary(parts) for p, parts in OTHER.items()},
        "standalone_only": {p: summary(parts) for p, parts in STANDALONE_ONLY.items()},
        "totals": totals,
    }


def resp(args):
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def cli_quote(a):
    return '"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"'


def verify(target):
    keys = [line.strip() for line in sys.stdin if line.strip()]
    problems = []
    for pattern, parts in groups(target):
        want = summary(parts)["keys"]
        got = sum(1 for k in keys if fnmatch.fnmatchcase(k, pattern))
        if got != want:
            problems.append(f"{pattern}: {got} keys, expected {want}")
    total = seed_json()["totals"][target]
    if len(keys) != total:
        problems.append(f"total: {len(keys)} keys, expected {total}")
    if problems:
        print(f"seed check of {target} failed:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"{target}: {total} keys, as seeded", file=sys.stderr)
    return 0


def main(argv):
    if len(argv) < 2 or argv[1] not in ("resp", "cli", "json", "verify"):
        print(__doc__, file=sys.stderr)
        return 2
    mode = argv[1]
    if mode == "json":
        json.dump(seed_json(), sys.stdout, indent=2, sort_keys=True)
        print()
        return 0
    target = argv[2] if len(argv) > 2 else ""
    if target not in TARGETS:
        print(f"unknown target {target!r}: one of {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    if mode == "verify":
        return verify(target)
    out = sys.stdout.buffer
    for args in all_commands(target):
        if mode == "resp":
            out.write(resp(args))
        else:
            out.write((" ".join(cli_quote(a) for a in args) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
