"""Nothing lost, nothing left running: signals to a command's whole process group, `kill -9`,
runs left RUNNING by a dead process, refused command lines, stores vgx cannot use."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from vgx.cli import EXIT_INTERRUPTED, EXIT_USER_ERROR, main
from vgx.store.tracking import mlflow_client

VGX = shutil.which("vgx") or str(Path(sys.executable).parent / "vgx")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def _runs(workdir: Path) -> list:
    store = workdir / "outputs" / "mlflow.db"
    if not store.exists():
        return []
    client = mlflow_client(f"sqlite:///{store}")  # waits for a store being created
    return [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]


def _epochs(workdir: Path, run) -> int:  # noqa: ANN001
    client = mlflow_client(f"sqlite:///{workdir / 'outputs' / 'mlflow.db'}")
    return len(client.get_metric_history(run.info.run_id, "loss/train"))


def _live_processes() -> list[tuple[int, list[str]]]:
    """(pid, the fields of /proc/PID/stat after the command's name) of every live process:
    state, parent, group, ..., start time at index 19; zombies excluded."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[0] != "Z":
            found.append((int(entry.name), fields))
    return found


def _group(pgid: int) -> list[int]:
    """The live processes of a process group."""
    return [pid for pid, fields in _live_processes() if int(fields[2]) == pgid]


def _start(workdir: Path, *args: str) -> subprocess.Popen:
    """`vgx ARGS` in a process group of its own, as `setsid`, a terminal or SLURM starts it."""
    return subprocess.Popen(
        [VGX, *args],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _when_training(workdir: Path, timeout: float = 90) -> None:
    """Wait until a run has recorded an epoch (a flush), so that a signal meets a running run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [r for r in _runs(workdir) if r.info.status == "RUNNING"]
        if any(_epochs(workdir, r) for r in running if r.data.tags.get("vgx.kind") != "sweep"):
            return
        time.sleep(0.5)
    pytest.fail("no run started training")


def _stopped_by(process: subprocess.Popen, sig: int) -> tuple[int, float, str]:
    started = time.monotonic()
    os.killpg(process.pid, sig)
    out, _ = process.communicate(timeout=120)
    return process.returncode, time.monotonic() - started, out


@pytest.mark.parametrize("sig", [signal.SIGTERM])
def test_a_signal_to_the_group_of_one_run_keeps_every_measured_epoch(workdir, monkeypatch, sig):
    monkeypatch.setenv("VGX_FLUSH_SECONDS", "0.5")  # the run is in the store within a second
    process = _start(workdir, "train", "epochs=20000")
    _when_training(workdir)
    code, seconds, out = _stopped_by(process, sig)
    assert code == EXIT_INTERRUPTED and "Traceback" not in out
    assert seconds < 10
    (run,) = _runs(workdir)
    assert (run.info.status, run.data.tags["status"]) == ("KILLED", "interrupted")
    (history,) = (workdir / "outputs" / "runs").glob("*/*/artifacts/history.csv")
    measured = len(history.read_text().splitlines()) - 1
    assert measured > 1 and _epochs(workdir, run) == measured  # every measured epoch recorded
    time.sleep(2)
    assert _group(process.pid) == []  # the recording process stopped with it


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGINT])
def test_other_signals_to_the_group_of_one_run(workdir, monkeypatch, sig):
    test_a_signal_to_the_group_of_one_run_keeps_every_measured_epoch(workdir, monkeypatch, sig)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_a_batched_sweep_records_its_stack_as_interrupted(workdir, sig):
    args = ["train", "-m", "hydra/launcher=batched", "seed=range(0,10)", "epochs=20000"]
    process = _start(workdir, *args)
    deadline = time.monotonic() + 90
    while not _runs(workdir) and time.monotonic() < deadline:  # the parent, then the stack
        time.sleep(0.5)
    time.sleep(6)
    code, seconds, out = _stopped_by(process, sig)
    assert code == EXIT_INTERRUPTED and "Traceback" not in out
    runs = _runs(workdir)
    (parent,) = [r for r in runs if r.data.tags.get("vgx.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("vgx.kind") != "sweep"]
    assert parent.data.tags["status"] == "interrupted"
    assert len(children) == 10
    assert {(c.info.status, c.data.tags["status"]) for c in children} == {("KILLED", "interrupted")}
    assert all(_epochs(workdir, c) > 1 for c in children)
    time.sleep(2)
    assert _group(process.pid) == []


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)]
)  # the same path for both: the second in the full suite
def test_a_signal_that_comes_while_the_helpers_start_leaves_them_to_their_work(sig):
    """A signal to the group may reach a helper process while Python and its imports still
    start it (a second or more under load): the command's to handle, not the helper's end."""
    from vgx.store.recording import RecordingProcess
    from vgx.sweeps.batched import recording_pool, submit_to
    from vgx.sweeps.workers import LocalWorkers

    recorder = RecordingProcess()
    os.kill(recorder.process.pid, sig)
    workers = LocalWorkers(2).start()
    for worker in workers._workers:
        os.kill(worker.process.pid, sig)
    pool = recording_pool(1)
    (pool_worker,) = pool._processes.values()
    os.kill(pool_worker.pid, sig)
    try:
        assert submit_to(pool, os.getpid).result(timeout=60) == pool_worker.pid
        assert recorder.call(os.getpid)() == recorder.process.pid
        for worker in workers._workers:
            worker.process.join(1)
            assert worker.process.is_alive()
    finally:
        pool.shutdown()
        workers.close()
        recorder.close()


def test_the_first_helper_of_a_process_starts_with_the_stop_signals_held(tmp_path):
    """multiprocessing starts its resource tracker with a process's first spawn and then
    unblocks SIGINT and SIGTERM in the spawning thread: a fresh interpreter shows it."""
    script = tmp_path / "first_helper.py"
    script.write_text(
        """
import multiprocessing, signal
from vgx.helper_processes import starting_helpers

def its_mask(connection):
    connection.send(sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])))

if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()  # a queue's lock would start the resource tracker first
    helper = context.Process(target=its_mask, args=(theirs,))
    with starting_helpers():
        helper.start()
    print(ours.recv())
    helper.join()
"""
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    from vgx.errors import STOP_SIGNALS

    assert out.stdout.strip() == str(sorted(int(s) for s in STOP_SIGNALS)), out.stderr


def _children(pid: int) -> list[int]:
    """A process's live children, oldest first (pids are not reused within a test)."""
    found = [(int(f[19]), child) for child, f in _live_processes() if int(f[1]) == pid]
    return [child for _, child in sorted(found)]


@pytest.mark.slow
def test_a_batched_sweep_whose_recording_worker_is_killed_records_every_run(workdir):
    args = ["train", "-m", "hydra/launcher=batched", "seed=range(0,10)", "epochs=400"]
    process = _start(workdir, *args)
    deadline = time.monotonic() + 90
    while len(_children(process.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)  # the resource tracker, the recording process, then the worker
    os.kill(_children(process.pid)[-1], signal.SIGKILL)
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0, out
    assert "a recording worker stopped" in out
    children = [r for r in _runs(workdir) if r.data.tags.get("vgx.kind") != "sweep"]
    assert sorted(int(c.data.params["seed"]) for c in children) == list(range(10))
    assert {c.info.status for c in children} == {"FINISHED"}
    assert all(_epochs(workdir, c) == 401 for c in children)


@pytest.mark.slow
def test_a_signal_while_a_batched_sweep_records_keeps_every_trained_run(workdir):
    """Trained runs are measured: a signal that comes while they are recorded lets them be
    recorded, then the sweep stops."""
    args = ["train", "-m", "hydra/launcher=batched", "seed=range(0,10)", "epochs=300"]
    process = _start(workdir, *args, "progress=false")
    for line in process.stdout:
        if "runs trained in" in line:  # the recording starts
            break
    code, _, out = _stopped_by(process, signal.SIGTERM)
    assert code == EXIT_INTERRUPTED and "Traceback" not in out
    runs = _runs(workdir)
    (parent,) = [r for r in runs if r.data.tags.get("vgx.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("vgx.kind") != "sweep"]
    assert parent.data.tags["status"] == "interrupted"
    assert sorted(int(c.data.params["seed"]) for c in children) == list(range(10))
    assert {(c.info.status, c.data.tags["status"]) for c in children} == {("FINISHED", "finished")}
    assert all(_epochs(workdir, c) == 301 for c in children)


@pytest.mark.slow
def test_after_kill_9_nothing_outlives_a_batched_sweep_and_its_parent_is_closed(workdir):
    args = ["train", "-m", "hydra/launcher=batched", "seed=range(0,16)", "epochs=20000"]
    process = _start(workdir, *args)
    deadline = time.monotonic() + 90
    while len(_group(process.pid)) < 3 and time.monotonic() < deadline:  # the recording workers
        time.sleep(0.5)
    time.sleep(3)
    process.kill()
    process.wait()
    time.sleep(5)
    assert _group(process.pid) == []  # no worker, recorder or resource tracker left behind
    (parent,) = [r for r in _runs(workdir) if r.data.tags.get("vgx.kind") == "sweep"]
    assert parent.info.status == "RUNNING"  # what kill -9 leaves
    assert main(["report", "--sweep", parent.info.run_id]) == EXIT_USER_ERROR  # no child yet
    (parent,) = [r for r in _runs(workdir) if r.data.tags.get("vgx.kind") == "sweep"]
    assert (parent.info.status, parent.data.tags["status"]) == ("KILLED", "interrupted")


def test_a_run_whose_process_is_gone_is_closed_as_interrupted_by_the_next_command(store_uri):
    from vgx.store import tracking

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    recorder = tracking.RunRecorder(store_uri, "vgx")
    run_id = recorder.start("left-running", {}, {})
    live = tracking.RunRecorder(store_uri, "vgx")
    live_id = live.start("still-running", {}, {})
    client = tracking.mlflow_client(store_uri)
    client.set_tag(run_id, tracking.OWNER_TAG, f"{tracking.socket.gethostname()}:{dead.pid}")
    client.set_tag(live_id, tracking.OWNER_TAG, "another-host:1")  # cannot be asked: left alone
    tracking._reconciled.discard(store_uri)
    assert tracking.reconcile_once(client, store_uri) == [run_id]
    closed, other = client.get_run(run_id), client.get_run(live_id)
    assert (closed.info.status, closed.data.tags["status"]) == ("KILLED", "interrupted")
    assert other.info.status == "RUNNING"
    assert tracking.reconcile_once(client, store_uri) == []  # once per store and process


@pytest.mark.parametrize(
    "args",
    [
        ["train", "-m", "hydra/launcher=nosuch", "depth=2,3", "epochs=1"],
        ["train", "-m", "hydra.sweep.dir=/proc/vgx-x", "depth=2,3", "epochs=1"],
        ["train", "+foo=1", "epochs=1"],
        ["train", "+optimizer.bar=1", "epochs=1"],
    ],
)
def test_a_refused_command_line_creates_nothing_in_the_store(workdir, capsys, args):
    assert main(["train", "epochs=1", "depth=2", "progress=false"]) == 0  # a store with a run
    before = [r.info.run_id for r in _runs(workdir)]
    capsys.readouterr()
    assert main(args) == EXIT_USER_ERROR
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert [r.info.run_id for r in _runs(workdir)] == before


BAD_STORES = [
    ("sqlite://", ["in-memory"]),
    ("sqlite:///:memory:", ["in-memory"]),
    ("sqlite:///{dir}", ["is a folder"]),
    ("sqlite:////proc/vgx-store.db", ["/proc/vgx-store.db"]),
    ("sqlite:///{notdb}", ["not an SQLite database"]),
]


@pytest.mark.parametrize(("uri", "words"), BAD_STORES, ids=[u for u, _ in BAD_STORES])
@pytest.mark.parametrize("command", ["train", "report", "ui"])
def test_a_store_vgx_cannot_use_is_one_line_within_seconds(workdir, capsys, uri, words, command):
    (workdir / "folder").mkdir()
    (workdir / "notes.txt").write_text("not a database\n")
    uri = uri.format(dir=workdir / "folder", notdb=workdir / "notes.txt")
    args = {
        "train": ["train", f"tracking.uri={uri}", "epochs=1"],
        "report": ["report", "--uri", uri],
        "ui": ["ui", "--no-browser", "--uri", uri],
    }[command]
    started = time.monotonic()
    assert main(args) == EXIT_USER_ERROR
    assert time.monotonic() - started < 5
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err


@pytest.mark.parametrize("command", ["report", "ui"])
def test_reading_a_store_that_is_not_there_creates_nothing(workdir, capsys, command):
    missing = workdir / "nowhere.db"
    args = ["report", "--uri"] if command == "report" else ["ui", "--no-browser", "--uri"]
    assert main([*args, f"sqlite:///{missing}"]) == EXIT_USER_ERROR
    assert "no such file" in capsys.readouterr().err
    assert not missing.exists()
    assert main([args[0], *args[1:], "ftp://x"]) == EXIT_USER_ERROR


def test_a_relative_sqlite_path_is_a_store_beside_the_working_folder(workdir):
    assert main(["train", "tracking.uri=sqlite:///relative.db", "epochs=1", "depth=2"]) == 0
    client = MlflowClient(f"sqlite:///{workdir / 'relative.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("vgx").experiment_id])
    assert run.data.tags["status"] == "finished"


VALUES_OUT_OF_RANGE = [
    ("seed=99999999999999999999", "seed"),
    ("seed=-1", "seed"),
    ("dataset.random_state=-1", "dataset.random_state"),
    ("init.gain=1e308", "init.gain"),
    ("init.bias=1e308", "init.bias"),
    ("dataset.noise=inf", "dataset.noise"),
    ("activation.slope=inf", "activation.slope"),
    ("width=10000000", "needs about"),
    ("width=30000", "needs about"),
    ("depth=100000", "depth"),
    ("tracking.experiment=" + "x" * 600, "at most 500"),
]


@pytest.mark.parametrize(
    ("value", "word"), VALUES_OUT_OF_RANGE, ids=[v[:30] for v, _ in VALUES_OUT_OF_RANGE]
)
def test_values_training_cannot_honour_are_one_line_before_anything_runs(
    workdir, capsys, value, word
):
    assert main(["train", value, "epochs=1"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and word in err and "Traceback" not in err
    assert _runs(workdir) == []


def test_cuda_without_cuda_is_one_line(workdir, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    assert main(["train", "device=cuda", "epochs=1"]) == EXIT_USER_ERROR
    assert "device='cuda'" in capsys.readouterr().err
    assert _runs(workdir) == []


def test_a_tracking_server_that_does_not_answer_is_one_line_before_training(workdir, capsys):
    import socket

    with socket.socket() as frozen:  # accepts connections, answers nothing: a stopped server
        frozen.bind(("127.0.0.1", 0))
        frozen.listen()
        uri = f"http://127.0.0.1:{frozen.getsockname()[1]}"
        started = time.monotonic()
        assert main(["train", f"tracking.uri={uri}", "epochs=1"]) == EXIT_USER_ERROR
        assert time.monotonic() - started < 15
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and uri in err and "cannot be reached" in err
    assert not (workdir / "outputs" / "runs").exists()  # nothing trained


@pytest.mark.slow
def test_a_full_disk_closes_the_run_as_failed_in_one_line(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(small)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        uri = f"sqlite:///{small / 'mlflow.db'}"
        done = subprocess.run(
            [VGX, "train", f"tracking.uri={uri}", "epochs=3000"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == EXIT_USER_ERROR
        assert done.stderr.strip().splitlines() == [
            line for line in done.stderr.strip().splitlines() if "disk is full" in line
        ]
        client = mlflow_client(uri)
        (run,) = client.search_runs([client.get_experiment_by_name("vgx").experiment_id])
        assert (run.info.status, run.data.tags["status"]) == ("FAILED", "failed")
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)  # the store is open here


@pytest.mark.slow
def test_a_tracking_server_frozen_mid_run_fails_the_command_in_one_line(tmp_path):
    """A real `mlflow server` on 127.0.0.1, frozen (SIGSTOP to its whole group) while a run
    records into it: vgx gives up within the stated timeouts, in one line."""
    from vgx.store.ui import free_port

    port = free_port("127.0.0.1")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
        + ["--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                import urllib.request

                with urllib.request.urlopen(uri + "/health", timeout=2):
                    break
            except OSError:
                time.sleep(1)
        else:
            pytest.skip("mlflow server did not start within 90 s")
        env = {**os.environ, "VGX_FLUSH_SECONDS": "1"}
        run = subprocess.Popen(
            [VGX, "train", f"tracking.uri={uri}", "epochs=100000"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        client = mlflow_client(uri)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # until the run's epochs reach the server
            runs = (
                client.search_runs([client.get_experiment_by_name("vgx").experiment_id])
                if (client.get_experiment_by_name("vgx"))
                else []
            )
            if runs and client.get_metric_history(runs[0].info.run_id, "loss/train"):
                break
            time.sleep(1)
        os.killpg(server.pid, signal.SIGSTOP)
        frozen = time.monotonic()
        _, err = run.communicate(timeout=120)
        waited = time.monotonic() - frozen
        print(f"frozen server: vgx exited {waited:.1f} s after the freeze")
        assert run.returncode == EXIT_USER_ERROR
        assert waited < 45, waited
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "tracking server" in lines[0], err
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGCONT)
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
