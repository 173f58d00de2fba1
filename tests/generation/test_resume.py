"""Kill a real generating process with SIGKILL mid-run; the rerun completes only the missing requests."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from clinsynth.generation.cache import GenerationCache

from . import resume_worker

N = 24
WORKER = Path(resume_worker.__file__)


def entries(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
    except sqlite3.OperationalError:  # table not created yet
        return 0


def run_worker(model: Path, cache: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(WORKER), str(model), str(cache), str(N)], capture_output=True,
                          text=True, check=True, timeout=300)


def test_sigkill_mid_run_then_rerun_generates_only_the_missing(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    cache = tmp_path / "cache.sqlite"
    proc = subprocess.Popen([sys.executable, str(WORKER), str(tiny_model_dir), str(cache), str(N)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while entries(cache) < 6 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the worker finished before it could be killed"
    committed = entries(cache)
    assert 0 < committed < N

    rerun = run_worker(tiny_model_dir, cache)
    assert int(rerun.stdout.split()[-1]) == N - committed  # only the missing ones
    with sqlite3.connect(cache) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with GenerationCache(cache) as store:
        assert store.stats().entries == N and store.generated_twice() == 0
        resumed = {k: store.get_many([k])[k].text for k in store.keys()}

    clean = tmp_path / "clean.sqlite"  # an uninterrupted run gives the very same texts
    resume_worker.main(str(tiny_model_dir), str(clean), N)  # in-process: saves a torch import
    assert int(capsys.readouterr().out.split()[-1]) == N
    with GenerationCache(clean) as store:
        assert {k: store.get_many([k])[k].text for k in store.keys()} == resumed
