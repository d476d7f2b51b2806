"""Whole-process timings: hyperfine when it is installed, else subprocesses timed here.

Both return the wall-clock seconds of every timed run, so the caller takes its own median. The
fallback also records CPU seconds (user + system) from `resource.getrusage(RUSAGE_CHILDREN)`.
"""

from __future__ import annotations

import json
import os
import pty
import resource
import shlex
import shutil
import struct
import subprocess
import tempfile
import termios
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fcntl import ioctl


class BenchmarkError(RuntimeError):
    """A command under test failed: the benchmark itself is broken, not merely slow."""


@dataclass
class Timing:
    """Wall-clock seconds per timed run (and CPU seconds when the fallback timer measured them)."""

    wall: list[float]
    cpu: list[float] = field(default_factory=list)
    tool: str = "subprocess"
    stderr: bytes = b""  # what the last run wrote on its (pseudo-)terminal, when one was attached


def _run_checked(cmd: Sequence[str], env: dict[str, str] | None, stderr_to_pty: bool) -> tuple[float, float, bytes]:
    """Run once with stdout to /dev/null: (wall seconds, CPU seconds, bytes written to the pty)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    captured = bytearray()
    reader = None
    master = slave = -1
    if stderr_to_pty:
        master, slave = pty.openpty()
        ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))

        def drain() -> None:
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO once the child closed its end
                    return
                if not chunk:
                    return
                captured.extend(chunk)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=slave if stderr_to_pty else subprocess.PIPE,
            env=env,
            check=False,
        )
    finally:
        if stderr_to_pty:
            os.close(slave)
    wall = time.perf_counter() - start
    if reader is not None:
        reader.join(timeout=5)
        os.close(master)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        err = bytes(captured) if stderr_to_pty else (proc.stderr or b"")
        raise BenchmarkError(
            f"{shlex.join(cmd)} exited {proc.returncode}: {err.decode(errors='replace').strip()[-800:]}"
        )
    return wall, cpu, bytes(captured)


def time_subprocess(
    cmd: Sequence[str],
    runs: int,
    *,
    warmup: int = 1,
    prepare: Callable[[], None] | None = None,
    env: dict[str, str] | None = None,
    stderr_to_pty: bool = False,
) -> Timing:
    """Time `runs` runs of `cmd` after `warmup` untimed ones; `prepare()` runs (untimed) before each."""
    for _ in range(warmup):
        if prepare is not None:
            prepare()
        _run_checked(cmd, env, stderr_to_pty)
    timing = Timing([], [])
    for _ in range(runs):
        if prepare is not None:
            prepare()
        wall, cpu, err = _run_checked(cmd, env, stderr_to_pty)
        timing.wall.append(wall)
        timing.cpu.append(cpu)
        timing.stderr = err
    return timing


def hyperfine_path() -> str | None:
    return shutil.which("hyperfine")


def time_hyperfine(cmd: Sequence[str], runs: int, *, warmup: int = 1, env: dict[str, str] | None = None) -> Timing:
    """Time with hyperfine (no intermediate shell); the per-run times come from its JSON export."""
    exe = hyperfine_path()
    if exe is None:
        raise BenchmarkError("hyperfine is not installed")
    with tempfile.TemporaryDirectory(prefix="mova-hf-") as tmp:
        export = os.path.join(tmp, "out.json")
        args = [
            exe, "--shell=none", "--style", "none", "--warmup", str(warmup), "--runs", str(runs),
            "--export-json", export, "--command-name", "cmd", shlex.join(cmd),
        ]
        proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, env=env, check=False)
        if proc.returncode != 0:
            # hyperfine says which command failed but not why: run it once to show its own error.
            _run_checked(cmd, env, False)
            raise BenchmarkError(f"hyperfine failed on {shlex.join(cmd)}: {proc.stderr.decode(errors='replace')[-800:]}")
        with open(export) as fh:
            result = json.load(fh)["results"][0]
    wall = [float(t) for t in result["times"]]
    cpu = []
    if "user" in result and "system" in result:
        cpu = [result["user"] + result["system"]] * len(wall)  # hyperfine reports CPU as a mean only
    return Timing(wall, cpu, tool="hyperfine")


class Timer:
    """Chooses hyperfine (when installed and not disabled) or the subprocess fallback."""

    def __init__(self, use_hyperfine: bool = True):
        self.tool = "hyperfine" if use_hyperfine and hyperfine_path() else "subprocess"

    def time(self, cmd: Sequence[str], runs: int, *, warmup: int = 1, env: dict[str, str] | None = None) -> Timing:
        if self.tool == "hyperfine":
            return time_hyperfine(cmd, runs, warmup=warmup, env=env)
        return time_subprocess(cmd, runs, warmup=warmup, env=env)
