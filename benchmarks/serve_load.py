"""Load on a real `mova serve` over loopback: request rates side by side with /healthz, and a mixed load.

`wrk` (Debian's package) drives the rate rows when it is installed; otherwise a bounded Python load
generator (threads with an httpx client each) does, for the same duration. Loopback only.
"""

from __future__ import annotations

import random
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .timing import BenchmarkError

WRK_THREADS = 2
WRK_CONNECTIONS = 32


@dataclass
class Rate:
    """Requests per second and latency percentiles (ms) of one endpoint."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    tool: str = "wrk"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`mova serve` over a directory on a free loopback port, its log in `log`."""

    def __init__(self, mova: list[str], directory: Path, env: dict[str, str], log: Path, *extra: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen([*mova, "--dlq-path", str(directory), "serve", "--port", str(self.port),
                                             *extra], env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise BenchmarkError(f"mova serve exited {self.process.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise BenchmarkError("mova serve did not answer /healthz within 60 s")
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_WRK_LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def wrk_rate(url: str, seconds: float) -> Rate:
    """`wrk -t2 -c32 --latency` for `seconds` against one URL."""
    proc = subprocess.run(["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{max(1, round(seconds))}s",
                           "--latency", url], capture_output=True, text=True, timeout=seconds + 60)
    if proc.returncode != 0:
        raise BenchmarkError(f"wrk failed: {proc.stderr.strip()[-500:]}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", proc.stdout)
    if rps is None:
        raise BenchmarkError(f"wrk printed no rate:\n{proc.stdout}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    latency = {p: float(v) * scale[u] for p, v, u in _WRK_LATENCY.findall(proc.stdout)}
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", proc.stdout)
    return Rate(float(rps.group(1)), latency.get("50", 0.0), latency.get("99", 0.0),
                int(errors.group(1)) if errors else 0)


def python_rate(url: str, seconds: float, clients: int = 8) -> Rate:
    """The fallback: `clients` threads, each with its own keep-alive client, for `seconds`."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop = time.monotonic() + seconds

    def work(n: int) -> None:
        with httpx.Client(timeout=30) as client:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                status = client.get(url).status_code
                latencies[n].append((time.perf_counter() - t0) * 1000)
                errors[n] += status >= 400

    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    every = sorted(v for part in latencies for v in part)
    return Rate(len(every) / elapsed, percentile(every, 50), percentile(every, 99), sum(errors), "python")


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p / 100))]


def measure(url: str, seconds: float, use_wrk: bool) -> Rate:
    """The rate of one URL, with wrk when asked for and installed."""
    if use_wrk and shutil.which("wrk"):
        return wrk_rate(url, seconds)
    return python_rate(url, seconds)


# -- the mixed load ----------------------------------------------------------------------------
@dataclass
class LoadResult:
    """What 50 clients saw: latencies, 5xx answers, and acknowledged status changes not on disk."""

    requests: int = 0
    server_errors: int = 0
    lost_updates: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def p99_ms(self) -> float:
        return percentile(sorted(self.latencies_ms), 99)


def mixed_load(server_url: str, directory: Path, ids: list[str], clients: int, seconds: float,
               read_status: Callable[[Path, str], str]) -> LoadResult:
    """`clients` threads for `seconds`: reads (one entry, a page, stats, metrics), status changes on
    entries of their own, and sandbox retries of entries of their own; then every acknowledged
    status change is looked for in the files."""
    per = max(2, len(ids) // clients)
    result = LoadResult()
    lock = threading.Lock()
    last_set: dict[str, str] = {}
    stop = time.monotonic() + seconds

    def work(n: int) -> None:
        rng = random.Random(n)
        mine = ids[n * per:(n + 1) * per]
        toggled, retried = mine[: len(mine) // 2], mine[len(mine) // 2:]
        with httpx.Client(base_url=server_url, timeout=60) as client:
            while time.monotonic() < stop:
                roll = rng.random()
                if roll < 0.7:
                    kind, call = _read(client, rng, ids)
                elif roll < 0.9 and toggled:
                    entry = rng.choice(toggled)
                    want = rng.choice(["archived", "active"])
                    kind = "status"
                    call = lambda e=entry, w=want: client.put(f"/v1/dlq/{e}/status", json={"status": w})  # noqa: E731
                else:
                    entry = rng.choice(retried or mine)
                    kind = "retry"
                    call = lambda e=entry: client.post(f"/v1/dlq/{e}/retry", json={"sandbox_mode": True})  # noqa: E731
                t0 = time.perf_counter()
                r = call()
                took = (time.perf_counter() - t0) * 1000
                with lock:
                    result.requests += 1
                    result.latencies_ms.append(took)
                    result.server_errors += r.status_code >= 500
                    result.by_kind[kind] = result.by_kind.get(kind, 0) + 1
                    if kind == "status" and r.status_code == 200:
                        last_set[entry] = want

    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.lost_updates = sum(1 for entry, status in last_set.items() if read_status(directory, entry) != status)
    return result


def _read(client: httpx.Client, rng: random.Random, ids: list[str]) -> tuple[str, Callable[[], httpx.Response]]:
    pick = rng.random()
    if pick < 0.4:
        entry = rng.choice(ids)
        return "get", lambda: client.get(f"/v1/dlq/{entry}")
    if pick < 0.7:
        return "list", lambda: client.get("/v1/dlq", params={"status": "active", "limit": 50})
    if pick < 0.9:
        return "stats", lambda: client.get("/v1/dlq/stats")
    return "metrics", lambda: client.get("/metrics")

