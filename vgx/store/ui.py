"""`vgx ui`: MLflow's UI over the store that `vgx train` writes, on the loopback address, opened
on the latest experiment's runs (not MLflow 3's GenAI overview)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from vgx.errors import UsageError
from vgx.store.tracking import artifact_root, check_store, default_store, tracking_uri

LOOPBACK = ("127.0.0.1", "localhost", "::1")
READY_TIMEOUT_S = 60.0  # MLflow's server answers /health after 6–12 s on 2 cores
STOP_TIMEOUT_S = 5.0  # then the server's process group is killed
# MLflow 3's UI shows an experiment's runs table with this query, whatever its default view.
RUNS_VIEW = "runs?workflowType=machine_learning"


def ui_arguments(args: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vgx ui", description=__doc__)
    parser.add_argument("--port", type=int, default=5000, help="TCP port (default 5000)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--uri", default=None, help="tracking store (default: as `vgx train`)")
    parser.add_argument(
        "--no-browser", action="store_true", help="print the address, do not open a browser"
    )
    parsed = parser.parse_args(args)
    if not 1 <= parsed.port <= 65535:
        raise UsageError(f"--port={parsed.port}: not allowed; expected a port in 1…65535")
    return parsed


def ui_command_line(parsed: argparse.Namespace) -> list[str]:
    uri = tracking_uri(parsed.uri)
    default = uri == f"sqlite:///{default_store()}"  # not one named by --uri or the environment
    if default and not default_store().exists():
        raise UsageError(f"no runs yet: {default_store()} does not exist; run `vgx train` first")
    check_store(uri, must_exist=True)
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    command += ["--host", parsed.host, "--port", str(parsed.port)]
    root = artifact_root(uri)
    if root:
        command += ["--default-artifact-root", root]
    return command


@dataclass
class Landing:
    """Where the UI should open: the latest experiment's runs, and the latest sweep's parent."""

    experiment_id: str | None
    experiment: str | None
    sweep_run_id: str | None = None
    sweep_name: str | None = None

    def runs_path(self) -> str:
        return f"#/experiments/{self.experiment_id}/{RUNS_VIEW}" if self.experiment_id else ""

    def sweep_path(self) -> str | None:
        if not (self.experiment_id and self.sweep_run_id):
            return None
        return f"#/experiments/{self.experiment_id}/runs/{self.sweep_run_id}"


def landing(uri: str) -> Landing:
    """The experiment whose run started last, and its latest sweep's parent run."""
    from vgx.store.tracking import latest_sweep_run, mlflow_client

    client = mlflow_client(uri)
    experiments = client.search_experiments()
    if not experiments:
        return Landing(None, None)
    ids = [e.experiment_id for e in experiments]
    latest = client.search_runs(ids, order_by=["attributes.start_time DESC"], max_results=1)
    if not latest:
        return Landing(None, None)
    experiment_id = latest[0].info.experiment_id
    name = next(e.name for e in experiments if e.experiment_id == experiment_id)
    sweep = latest_sweep_run(client, [experiment_id])
    if sweep is None:
        return Landing(experiment_id, name)
    return Landing(experiment_id, name, sweep.info.run_id, sweep.info.run_name)


def port_in_use(host: str, port: int) -> bool:
    """Whether a server listens on the port. Connections a server closed linger in TIME_WAIT
    for a minute; they do not keep a new server (which sets SO_REUSEADDR) from starting."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/health", timeout=2) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _browser_available() -> bool:
    """A graphical browser to open: never a text browser taking over the terminal."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _stop(server: subprocess.Popen) -> None:
    """Stop MLflow's server and every worker it spawned (its own process group): the command
    returns once none of them is left, not when the first has exited, so that the port is
    free again."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _group_alive(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _group_alive(server):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
    server.wait()


def _group_alive(server: subprocess.Popen) -> bool:
    server.poll()  # reaps the leader once it has exited
    try:
        os.killpg(server.pid, 0)
    except ProcessLookupError:
        return False
    return True


def serve(args: list[str]) -> int:
    parsed = ui_arguments(args)
    if parsed.host not in LOOPBACK:
        print(
            f"vgx ui: warning: listening on {parsed.host}: anyone who can reach this machine "
            "can read and delete your runs",
            file=sys.stderr,
        )
    command = ui_command_line(parsed)
    if port_in_use(parsed.host, parsed.port):
        raise UsageError(
            f"--port={parsed.port}: already in use on {parsed.host}; "
            f"try `vgx ui --port {free_port(parsed.host)}`"
        )
    uri = tracking_uri(parsed.uri)
    where = landing(uri)
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    base = f"http://{host}:{parsed.port}"
    # MLflow's log lines go to a file (named when it fails), vgx's lines to the terminal
    log_path = Path(tempfile.gettempdir()) / f"vgx-ui-{parsed.port}.log"
    log = open(log_path, "w")  # noqa: SIM115 - the server writes to it until it stops
    # its own process group: MLflow's server spawns workers that must stop with it
    server = subprocess.Popen(command, start_new_session=True, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _healthy(base):
            if server.poll() is not None:
                raise UsageError(
                    f"MLflow's UI did not start on {base} (exit {server.returncode}): "
                    f"{_last_line(log_path)}; its log: {log_path}"
                )
            if time.monotonic() > deadline:
                raise UsageError(f"MLflow's UI did not answer on {base} in {READY_TIMEOUT_S:.0f} s")
            time.sleep(0.3)
        url = f"{base}/{where.runs_path()}"
        if where.experiment is None:
            print(f"vgx ui: {base}  (no runs yet; Ctrl-C stops it)", flush=True)
        else:
            print(f"vgx ui: runs of experiment '{where.experiment}': {url}", flush=True)
            sweep = where.sweep_path()
            if sweep:
                print(
                    f"vgx ui: latest sweep '{where.sweep_name}': {base}/{sweep}\n"
                    "        (in the runs table, a sweep's children sit under its parent: "
                    "expand the row's ⊕)",
                    flush=True,
                )
            print("vgx ui: Ctrl-C stops it", flush=True)
        if not parsed.no_browser and _browser_available():
            import webbrowser

            webbrowser.open(url)
        server.wait()
        return 0 if server.returncode in (0, -signal.SIGTERM) else server.returncode
    except KeyboardInterrupt:  # Ctrl-C, and SIGTERM or SIGHUP, which `vgx` turns into it
        return 0
    finally:
        _stop(server)
        log.close()


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
