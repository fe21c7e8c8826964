"""A small HTTP/1.1 keep-alive load generator on raw asyncio streams (cheap enough to share 2 cores).

Requests are built before the clock starts (``Prebuilt``) and the loop runs on uvloop (``run``), so
the generator takes as little CPU as it can from the servers it measures; every server in a run is
measured with the same generator, so the comparison stays fair.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    def summary(self) -> str:
        median = statistics.median(self.latencies) * 1000 if self.latencies else float("nan")
        return (f"{self.ok} ok in {self.elapsed:.1f}s = {self.rate:,.0f}/s; p50 {median:.1f} ms, "
                f"p99 {self.percentile(99):.1f} ms; statuses {dict(sorted(self.statuses.items()))}")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run the load on uvloop when it is installed (it is: uvicorn[standard] brings it)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


class Prebuilt:
    """``count`` requests made ahead of time; indexes past the end wrap around (``make`` is then not called)."""

    def __init__(self, make: Callable[[int], bytes], count: int) -> None:
        self.requests = [make(index) for index in range(count)]
        self.offset = 0

    def __call__(self, index: int) -> bytes:
        return self.requests[(self.offset + index) % len(self.requests)]

    def advance(self, used: int) -> None:
        """Move past requests already sent, so the next phase sends fresh ones (while the pool lasts)."""
        self.offset += used


def request_bytes(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}",
             "Content-Type: application/json"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, raw: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if length:
            await self.reader.readexactly(length)
        return status


async def closed_loop(host: str, port: int, make: Callable[[int], bytes], connections: int,
                      seconds: float) -> Result:
    """As fast as the server answers, ``connections`` requests in flight: sustained throughput."""
    result, counter = Result(), iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        conn = Connection(host, port)
        while time.perf_counter() < deadline:
            raw = make(next(counter))
            started = time.perf_counter()
            status = await conn.send(raw)
            result.latencies.append(time.perf_counter() - started)
            result.statuses[status] = result.statuses.get(status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    result.elapsed = time.perf_counter() - started
    return result


async def open_loop(host: str, port: int, make: Callable[[int], bytes], rate: float, seconds: float,
                    connections: int = 128) -> Result:
    """Requests sent on a fixed schedule (``rate`` per second) whatever the server does: latency at a load."""
    result = Result()
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(Connection(host, port))
    total = int(rate * seconds)
    start = time.perf_counter()

    async def one(index: int) -> None:
        scheduled = start + index / rate
        conn = await pool.get()
        try:
            status = await conn.send(make(index))
        finally:
            pool.put_nowait(conn)
        result.latencies.append(time.perf_counter() - scheduled)
        result.statuses[status] = result.statuses.get(status, 0) + 1

    tasks = []
    for index in range(total):
        delay = start + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index)))
    await asyncio.gather(*tasks)
    result.elapsed = time.perf_counter() - start
    return result
