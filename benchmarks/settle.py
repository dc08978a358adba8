"""Where the settle script's Redis time goes, per job: `ack.lua` cut into its stages.

    python benchmarks/settle.py [--batches 100] [--repeat 9]

On a private server, `--batches` × 100 jobs are enqueued (status tracking on) and read by one
consumer one batch ahead of its acks, as a worker holds them; each batch is then acked by one of
these scripts, all made from `lua/ack.lua` itself, and `INFO commandstats` gives the server's
µs per job of the `EVALSHA`:

1. the call alone: the same KEYS and ARGV, a code per entry, nothing else;
2. + the ownership check (the batch's id range, one `XPENDING`, the per-entry lookup);
3. + `XACK` and `XDEL` of the owned entries (what the raw loop pays too);
4. the whole script: + each job's status (`HSET` state and `updated_at`, `EXPIRE`).

Stages 1–3 leave the status untouched and 1–2 leave the entries pending, so each stage's figure
is its own cost on top of the one before. Medians (and minima) over `--repeat` rounds, the
stages alternated in each.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec
import redis.asyncio as aredis

from streamq import Queue
from streamq.embedded.server import EmbeddedServer
from streamq.redis.lua_source import lua_dir, resolve_includes

CALL_ONLY = "local c = {}\nfor i = 5, #ARGV do c[#c + 1] = 1 end\nreturn c\n"


def stages() -> dict[str, str]:
    """The four scripts, cut from `lua/ack.lua` at its own section comments."""
    src = resolve_includes((lua_dir() / "ack.lua").read_text(), lua_dir())
    settle = src.index("-- unpack() has a limit")
    status = src.index("if track and #owned > 0")
    end = src.index("return codes", status)
    return {
        "1. call, KEYS/ARGV, codes": CALL_ONLY,
        "2. + ownership check": src[:settle] + src[end:],
        "3. + XACK, XDEL": src[:status] + src[end:],
        "4. + status (whole ack.lua)": src,
    }


async def one(url: str, source: str, batches: int) -> float:
    client = aredis.Redis.from_url(url)
    q = Queue(f"settle-{uuid.uuid4().hex[:6]}", url=url)
    n = batches * 100
    await q.enqueue_many(q.new_job("noop", args=[i]) for i in range(n))
    await client.xgroup_create(q.keys.stream, "g", id="0")
    script = client.register_script(source)

    async def read() -> list[tuple[bytes, dict[bytes, bytes]]]:
        reply = await client.xreadgroup("g", "c", {q.keys.stream: ">"}, count=100)
        return list(reply[0][1])

    ahead = [await read()]
    await client.config_resetstat()
    for b in range(batches):
        if b + 1 < batches:
            ahead.append(await read())
        entries = ahead.pop(0)
        ids = [entry_id.decode() for entry_id, _ in entries]
        jobs = [msgspec.json.decode(fields[b"job"])["id"] for _, fields in entries]
        keys = [q.keys.stream, q.keys.removed, *(q.keys.status(j) for j in jobs)]
        await script(keys=keys, args=["g", "c", 86_400, "1", *ids])
    usec = float((await client.info("commandstats"))["cmdstat_evalsha"]["usec"])
    await client.delete(q.keys.stream, *(q.keys.status(j) for j in jobs))
    await q.close()
    await client.aclose()
    return usec / n


async def run(url: str, batches: int, repeat: int) -> None:
    scripts = stages()
    got: dict[str, list[float]] = {name: [] for name in scripts}
    for _ in range(repeat):
        for name, source in scripts.items():
            got[name].append(await one(url, source, batches))
    print("| stage | EVALSHA µs/job, median | min | this stage alone (medians) |")
    print("| --- | ---: | ---: | ---: |")
    before = 0.0
    for name, values in got.items():
        med = statistics.median(values)
        print(f"| {name} | {med:.2f} | {min(values):.2f} | {med - before:+.2f} |")
        before = med


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    with EmbeddedServer(unix_socket=False) as server:
        print(
            f"{server.kind} {server.version}; {args.batches} batches of 100, {args.repeat} rounds\n"
        )
        asyncio.run(run(server.url, args.batches, args.repeat))


if __name__ == "__main__":
    main()
