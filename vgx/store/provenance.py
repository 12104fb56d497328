"""Where a run came from: the versions and the project's git commit, recorded as tags so that a
run can be reproduced later."""

from __future__ import annotations

import functools
import sys
from pathlib import Path


@functools.cache
def provenance() -> dict[str, str]:
    """Versions and the project's git commit, so a run can be reproduced later (once per
    process: a batched sweep records many runs)."""
    import platform
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    try:
        vgx_version = version("vgx")
    except PackageNotFoundError:
        vgx_version = "unknown"
    # the installed torch's version, as torch.__version__ says it, without importing torch (2 s)
    # in the processes that only record
    torch_version = sys.modules["torch"].__version__ if "torch" in sys.modules else version("torch")
    tags = {"vgx.version": vgx_version, "torch.version": torch_version}
    tags["python.version"] = platform.python_version()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        )
        if commit.returncode == 0:
            tags["git.commit"] = commit.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return tags
