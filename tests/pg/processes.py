"""Running `mova`, or a small script over the service, as real processes of their own "host":
a home and a working directory each, pointed at one PostgreSQL schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.pg.fixtures import PgTarget
from tests.support import ROOT

MOVA = [sys.executable, "-m", "mova_tui.cli.main"]


def host_env(target: PgTarget | None, home: Path, **extra: str) -> dict[str, str]:
    """The environment of one host: its own HOME, the store's URL and schema, no other MOVA_* value."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOVA_")}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT), MOVA_ACTOR=f"ops@{home.name}", NO_COLOR="1", COLUMNS="100")
    if target is not None:
        env.update(target.env())
    env.update(extra)
    return env


def host(tmp_path: Path, name: str) -> Path:
    """A host's home directory (also its working directory)."""
    home = tmp_path / name
    home.mkdir(exist_ok=True)
    return home


def run_mova(target: PgTarget | None, home: Path, *args: str, timeout: float = 60, **extra: str):
    """`mova ARGS` on one host; the finished process (text output captured)."""
    return subprocess.run([*MOVA, *args], capture_output=True, text=True, timeout=timeout, cwd=home,
                          env=host_env(target, home, **extra), stdin=subprocess.DEVNULL)


def start_python(target: PgTarget, home: Path, code: str, *args: str) -> subprocess.Popen:
    """`python -c CODE ARGS` on one host, started (stdout and stderr piped)."""
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=home, env=host_env(target, home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
