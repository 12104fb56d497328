"""`vgx ui`: MLflow's UI over the store that `vgx train` writes, on the loopback address."""

from __future__ import annotations

import argparse
import subprocess
import sys

from vgx.errors import UsageError
from vgx.store.tracking import artifact_root, default_store, tracking_uri

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def ui_arguments(args: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vgx ui", description=__doc__)
    parser.add_argument("--port", type=int, default=5000, help="TCP port (default 5000)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--uri", default=None, help="tracking store (default: as `vgx train`)")
    parsed = parser.parse_args(args)
    if not 1 <= parsed.port <= 65535:
        raise UsageError(f"--port={parsed.port}: not allowed; expected a port in 1…65535")
    return parsed


def ui_command_line(parsed: argparse.Namespace) -> list[str]:
    uri = tracking_uri(parsed.uri)
    if uri.startswith("sqlite:///") and not parsed.uri and not default_store().exists():
        raise UsageError(f"no runs yet: {default_store()} does not exist; run `vgx train` first")
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    command += ["--host", parsed.host, "--port", str(parsed.port)]
    root = artifact_root(uri)
    if root:
        command += ["--default-artifact-root", root]
    return command


def serve(args: list[str]) -> int:
    parsed = ui_arguments(args)
    if parsed.host not in LOOPBACK:
        print(
            f"vgx ui: warning: listening on {parsed.host}: anyone who can reach this machine "
            "can read and delete your runs",
            file=sys.stderr,
        )
    command = ui_command_line(parsed)
    print(f"vgx ui: http://{parsed.host}:{parsed.port}  (Ctrl-C stops it)", flush=True)
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0
