"""A real tracking database: Debian's PostgreSQL behind `mlflow server`, started here on 127.0.0.1,
two batched sweeps recording into it at once, every run and every metric value read back.
`make install-postgres` installs the server; the test skips with one line where it cannot start."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.test_reliability import _free_port, _healthy, _wait_for

pytestmark = pytest.mark.slow

PG_BIN = Path("/usr/lib/postgresql")


def _pg_tool(name: str) -> str | None:
    """initdb and pg_ctl: on PATH, or in Debian's versioned folder."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(PG_BIN.glob(f"*/bin/{name}")) if PG_BIN.is_dir() else []
    return str(versions[-1]) if versions else None


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the `postgres` user then."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@pytest.fixture
def postgres() -> Iterator[str]:
    """A fresh PostgreSQL cluster on 127.0.0.1: its URI; stopped by pg_ctl afterwards."""
    initdb, pg_ctl = _pg_tool("initdb"), _pg_tool("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL is not installed (make install-postgres)")
    pytest.importorskip("psycopg2", reason="psycopg2 is not installed (make install)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run the server")
    folder = Path(tempfile.mkdtemp(prefix="vgx-pg-", dir="/tmp"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    port = _free_port()
    done = subprocess.run(
        _as_server_user([initdb, "-D", str(data), "-A", "trust", "-U", "vgx"]),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"initdb failed: {done.stderr.strip().splitlines()[-1:]}")
    options = f"-p {port} -h 127.0.0.1 -k {folder}"
    started = subprocess.run(
        _as_server_user([pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w",
                         "start"]),
        capture_output=True,
        text=True,
    )  # fmt: skip
    if started.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"PostgreSQL did not start: {started.stderr.strip()[:200]}")
    try:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=port, user="vgx", dbname="postgres")
        connection.autocommit = True
        connection.cursor().execute("CREATE DATABASE mlflow")
        connection.close()
        yield f"postgresql+psycopg2://vgx@127.0.0.1:{port}/mlflow"
    finally:
        subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-m", "fast", "stop"]),
                       capture_output=True)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


def test_two_batched_sweeps_record_every_value_into_postgresql_behind_mlflow(postgres, tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", postgres, "--artifacts-destination", str(tmp_path / "artifacts"),
         "--workers", "2"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(lambda: _healthy(url), 90, "mlflow server over PostgreSQL")
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
        sweeps = [
            subprocess.Popen(
                [sys.executable, "-m", "vgx.cli", "train", "-m", "hydra/launcher=batched",
                 "seed=range(0,6)", "epochs=4", "depth=3", "progress=false",
                 f"tracking.uri={url}", f"tracking.experiment=pg-{name}"],
                cwd=tmp_path / name,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in ("a", "b")
        ]  # fmt: skip
        outputs = [s.communicate(timeout=400) for s in sweeps]
        assert [s.returncode for s in sweeps] == [0, 0], [err[-2000:] for _, err in outputs]
        client = MlflowClient(url)
        for name in ("a", "b"):
            experiment = client.get_experiment_by_name(f"pg-{name}")
            runs = client.search_runs([experiment.experiment_id])
            children = [r for r in runs if r.data.tags.get("vgx.kind") != "sweep"]
            assert len(runs) == 7 and len(children) == 6
            for run in children:
                assert run.data.tags["status"] == "finished" and run.info.status == "FINISHED"
                for key in run.data.metrics:
                    steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, key))
                    if key.endswith(("/test", "/constant")):
                        assert steps == [4], key
                    elif key.startswith("jacobian/"):
                        assert steps == [0], key
                    else:
                        assert steps == list(range(5)), key
                assert "history.csv" in {a.path for a in client.list_artifacts(run.info.run_id)}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        time.sleep(0.5)
