"""A real single-node SLURM: Debian's slurm-wlm and munge, started here (munged, slurmctld and
slurmd on 127.0.0.1), a batched sweep's stacks submitted to it as a job array through
submitit. `make install-slurm` installs it; the test skips with one line where it cannot start
(slurmd runs jobs as root here, so the test needs root)."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.test_executors import _assert_history_as_alone, _children, _stack_runs
from tests.test_reliability import _free_port
from vgx.cli import main
from vgx.store.tracking import start_sweep
from vgx.sweeps.cluster import ClusterJobs, ClusterSettings
from vgx.sweeps.stacks import Stack

pytestmark = pytest.mark.slow

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel")
START_WAIT_S = 30


def _slurm_conf(folder: Path, host: str) -> str:
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20 // 2
    settings = {
        "ClusterName": "vgxtest",
        "SlurmctldHost": f"{host}(127.0.0.1)",
        "SlurmctldPort": _free_port(),
        "SlurmdPort": _free_port(),
        "AuthType": "auth/munge",
        "CredType": "cred/munge",
        "AuthInfo": f"socket={folder / 'munge.socket'}",
        "SlurmUser": "root",
        "SlurmdUser": "root",
        "StateSaveLocation": folder / "state",
        "SlurmdSpoolDir": folder / "spool",
        "SlurmctldPidFile": folder / "slurmctld.pid",
        "SlurmdPidFile": folder / "slurmd.pid",
        "SlurmctldLogFile": folder / "slurmctld.log",
        "SlurmdLogFile": folder / "slurmd.log",
        "ProctrackType": "proctrack/linuxproc",  # no cgroups in a container
        "TaskPlugin": "task/none",
        "MpiDefault": "none",
        "ReturnToService": 2,
        "SelectType": "select/cons_tres",
        "SelectTypeParameters": "CR_Core_Memory",
        "JobAcctGatherType": "jobacct_gather/none",
        "AccountingStorageType": "accounting_storage/none",
    }
    lines = [f"{key}={value}" for key, value in settings.items()]
    lines += [
        f"NodeName=vgxnode NodeHostname={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} "
        f"RealMemory={memory_mb} State=UNKNOWN",
        "PartitionName=debug Nodes=vgxnode Default=YES MaxTime=INFINITE State=UP",
    ]
    return "\n".join(lines) + "\n"


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _stop(pid_files: list[Path]) -> None:
    """Cancel what is left, let every job step report its end to slurmd (a step left without
    it stays behind), then stop the daemons by their pids."""
    subprocess.run(["scancel", "--user", "root"], capture_output=True)
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline:
        queue = subprocess.run(["squeue", "-h"], capture_output=True, text=True)
        if queue.returncode != 0 or not queue.stdout.strip():
            break
        time.sleep(0.5)
    for path in reversed(pid_files):
        pid = _pid(path)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


@pytest.fixture
def slurm(monkeypatch) -> Iterator[Path]:
    """munged, slurmctld and slurmd of a one-node cluster; SLURM_CONF points at it. Stopped by
    their pids afterwards."""
    missing = [
        d for d in DAEMONS if shutil.which(d) is None and not Path(f"/usr/sbin/{d}").exists()
    ]
    if missing:
        pytest.skip(f"SLURM is not installed ({', '.join(missing)}; make install-slurm)")
    if os.geteuid() != 0:
        pytest.skip("the one-node SLURM of this test runs its daemons and jobs as root")
    folder = Path(tempfile.mkdtemp(prefix="vgx-slurm-", dir="/tmp"))  # a short socket path
    for sub in ("state", "spool"):
        (folder / sub).mkdir()
    shutil.chown(folder, "munge", "munge")
    folder.chmod(0o755)  # munged wants its socket's folder open to everyone
    conf = folder / "slurm.conf"
    conf.write_text(_slurm_conf(folder, socket.gethostname()))
    monkeypatch.setenv("SLURM_CONF", str(conf))
    pid_files = [folder / "munged.pid", folder / "slurmctld.pid", folder / "slurmd.pid"]
    sbin = lambda name: shutil.which(name) or f"/usr/sbin/{name}"  # noqa: E731
    munged = ["runuser", "-u", "munge", "--", sbin("munged"), f"--socket={folder / 'munge.socket'}"]
    munged += [f"--pid-file={pid_files[0]}", f"--log-file={folder / 'munged.log'}"]
    munged += [f"--seed-file={folder / 'munge.seed'}"]
    commands = {
        "munged": munged,
        "slurmctld": [sbin("slurmctld"), "-i"],
        "slurmd": [sbin("slurmd"), "-N", "vgxnode"],
    }
    try:
        for name, command in commands.items():
            done = subprocess.run(command, capture_output=True, text=True, timeout=START_WAIT_S)
            if done.returncode != 0:
                pytest.skip(f"{name} did not start: {done.stderr.strip()[:200]}")
        deadline = time.monotonic() + START_WAIT_S
        state = ""
        while time.monotonic() < deadline:
            state = subprocess.run(
                ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True
            ).stdout.strip()
            if state == "idle":
                break
            time.sleep(0.5)
        else:
            pytest.skip(f"the SLURM node did not come up (sinfo says {state!r})")
        yield folder
    finally:
        _stop(pid_files)
        time.sleep(1)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_batched_sweep_runs_its_stacks_as_slurm_jobs(slurm, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    args = ["train", "-m", "hydra/launcher=batched", "hydra.launcher.max_batch=2"]
    args += ["hydra.launcher.executor=submitit", "hydra.launcher.submitit.cpus_per_task=1"]
    args += ["hydra.launcher.submitit.mem_gb=1", "seed=0,1,2", "epochs=2", "progress=false"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.count("submitted as slurm job") == 2
    uri = f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}"
    runs = _children(uri)
    assert sorted(r.info.run_name for r in runs) == ["s0", "s1", "s2"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert len({r.data.tags["vgx.owner"] for r in runs}) == 2  # a job a stack
    (last,) = [r for r in runs if r.info.run_name == "s2"]
    _assert_history_as_alone(uri, last, ["seed=2", "epochs=2"])
    log = (slurm / "slurmctld.log").read_text()
    assert log.count("Allocate JobId=") == 2  # the cluster's own word: two jobs ran


def test_a_failing_slurm_job_fails_only_its_own_stack(slurm, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent = start_sweep(uri, "vgx", ["seed=0,1,2"])
    good = Stack(1, 2, _stack_runs(tmp_path, uri, parent, [0, 1]))
    bad = Stack(2, 2, _stack_runs(tmp_path, uri, parent, [2], activation="no_such_function"))
    settings = ClusterSettings(cpus_per_task=1, mem_gb=1)
    outcomes = ClusterJobs(settings, tmp_path).run([good, bad], lambda o: None, say=lambda s: None)
    by_number = {o.number: o for o in outcomes}
    assert not by_number[1].failed and all(map(math.isfinite, by_number[1].losses.values()))
    assert by_number[2].failed and "no_such_function" in by_number[2].error
    client = MlflowClient(uri)
    runs = {r.info.run_name: r for r in _children(uri)}
    assert {runs["s0"].info.status, runs["s1"].info.status, runs["s2"].info.status} == {
        "FINISHED",
        "FAILED",
    }
    assert runs["s2"].info.status == "FAILED"
    assert len(client.get_metric_history(runs["s0"].info.run_id, "loss/train")) == 3
