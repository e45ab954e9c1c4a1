"""One more service process beside the test stack's (a second tracker, an intake with other limits):
started as `python -m services.<name>`, ready once its /healthz answers 200, stopped afterwards."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

from services.common.settings import PROJECT_ROOT


@contextlib.contextmanager
def service_process(
    module: str, env: Mapping[str, str], *, health_url: str, log_path: Path, start_timeout: float = 60.0
) -> Iterator[subprocess.Popen[bytes]]:
    log = log_path.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", module], cwd=PROJECT_ROOT, env=dict(env), stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                if httpx.get(health_url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, f"{module} exited; see {log_path}"
            assert time.monotonic() < deadline, f"{module} did not become healthy; see {log_path}"
            time.sleep(0.3)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
