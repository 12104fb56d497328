"""What recording to a tracking server costs against the embedded SQLite store, per run.

    python bench/tracking_server.py [--runs 16] [--repeats 3] [--backend-store-uri URI]

A batched sweep of the default network (`seed=range(0,N)`, 100 epochs, every metric) into a
fresh embedded SQLite store, and the same sweep into a fresh `mlflow server` on 127.0.0.1 (its
backend: a SQLite file, or --backend-store-uri, e.g. postgresql+psycopg2://…), interleaved;
medians of the repeats, and the difference per run.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: Path, backend: str | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", backend or f"sqlite:///{folder / 'server.db'}",
         "--artifacts-destination", str(folder / "artifacts"), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return server, url
        except OSError:
            time.sleep(0.5)
    os.killpg(server.pid, signal.SIGKILL)
    raise SystemExit("bench: the mlflow server did not answer within 120 s")


def sweep(runs: int, folder: Path, uri: str | None) -> float:
    """Seconds of one batched sweep, the whole command."""
    args = ["-m", "hydra/launcher=batched", f"seed=range(0,{runs})", "progress=false"]
    if uri:
        args.append(f"tracking.uri={uri}")
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "vgx.cli", "train", *args],
        cwd=folder,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend-store-uri", default=None)
    args = parser.parse_args()
    embedded, served = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "local").mkdir()
            (folder / "remote").mkdir()
            embedded.append(sweep(args.runs, folder / "local", None))
            server, url = start_server(folder, args.backend_store_uri)
            try:
                served.append(sweep(args.runs, folder / "remote", url))
            finally:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=30)
    local, remote = statistics.median(embedded), statistics.median(served)
    backend = args.backend_store_uri.split("://")[0] if args.backend_store_uri else "sqlite"
    print(f"batched sweep of {args.runs} runs (100 epochs each), medians of {args.repeats}:")
    print(f"  embedded SQLite store   {local:6.1f} s")
    print(f"  mlflow server ({backend}) {remote:6.1f} s")
    print(f"  recording to the server costs {(remote - local) / args.runs:+.2f} s a run more")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
