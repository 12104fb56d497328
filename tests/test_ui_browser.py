"""`vgx ui` and the report page in a real browser: Debian's Chromium, headless (installed by
`make install-browser`). Slow: the UI takes 6–12 s to start, each page a few seconds."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from vgx.cli import main
from vgx.store.ui import free_port, port_in_use

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# headless on a machine without a display or a network beyond loopback
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _dom(url: str, profile: Path, budget_ms: int = 20000) -> str:
    """The page's DOM once its scripts have run (virtual time lets the UI fetch its runs)."""
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}"]
        + ["--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A store with a run, a study and a sweep (the latest), as a student would have it."""
    if CHROMIUM is None:
        pytest.skip("no Chromium: `make install-browser` installs Debian's")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["train", "epochs=2", "progress=false"]) == 0
    assert main(["study", "batchnorm", "seed=0", "epochs=3", "depth=3"]) == 0
    assert main(["train", "-m", "depth=2,3", "epochs=2", "progress=false"]) == 0
    return tmp_path


def _start_ui(workdir: Path, port: int) -> tuple[subprocess.Popen, str]:
    vgx = shutil.which("vgx") or str(Path(sys.executable).parent / "vgx")
    ui = subprocess.Popen(
        [vgx, "ui", "--no-browser", "--port", str(port)],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = ui.stdout.readline()
        if not line:
            break
        found = re.search(r"runs of experiment 'vgx': (\S+)", line)
        if found:
            return ui, found.group(1)
    ui.kill()
    pytest.fail("vgx ui printed no address of the runs")


def test_the_ui_opens_on_the_runs_and_a_study_parent_shows_its_verdict(store, tmp_path):
    uri = f"sqlite:///{store / 'outputs' / 'mlflow.db'}"
    client = MlflowClient(uri)
    vgx_id = client.get_experiment_by_name("vgx").experiment_id
    runs = client.search_runs([vgx_id])
    (sweep,) = [r for r in runs if r.data.tags.get("vgx.kind") == "sweep"]
    study_id = client.get_experiment_by_name("study-batchnorm").experiment_id
    (study,) = client.search_runs([study_id], filter_string="tags.`vgx.kind` = 'sweep'")
    port = free_port("127.0.0.1")
    ui, url = _start_ui(store, port)
    try:
        assert url.endswith(f"/#/experiments/{vgx_id}/runs?workflowType=machine_learning")
        table = _dom(url, tmp_path / "profile-runs")
        assert sweep.info.run_name in table  # the parent's row
        assert re.search(rf"<strong>{len(runs)}</strong> matching runs", table)
        assert "No data available" not in table  # not the GenAI overview
        base = url.split("/#/")[0]
        parent = _dom(f"{base}/#/experiments/{vgx_id}/runs/{sweep.info.run_id}", tmp_path / "p1")
        assert "d2" in parent and "d3" in parent  # its children, linked from the parent
        verdict = study.data.tags["verdict"]
        page = _dom(f"{base}/#/experiments/{study_id}/runs/{study.info.run_id}", tmp_path / "p2")
        assert "batchnorm:" in page and verdict in page and "Claim" in page
    finally:
        os.killpg(ui.pid, signal.SIGTERM)  # what a terminal's close or systemd sends
        ui.wait(30)
    time.sleep(1)
    assert not port_in_use("127.0.0.1", port)  # MLflow's server stopped with it


def test_the_report_page_renders_with_every_image_loaded(store, tmp_path):
    page = store / "outputs" / "reports" / "study-batchnorm" / "report.html"
    probe = tmp_path / "probe.html"
    # the page as it is, plus a script that writes each image's natural width into the DOM
    probe.write_text(
        page.read_text(encoding="utf-8").replace(
            "</body>",
            "<script>window.addEventListener('load', () => document.body.setAttribute("
            "'data-widths', [...document.images].map(i => i.naturalWidth).join(',')));"
            "</script></body>",
        ),
        encoding="utf-8",
    )
    dom = _dom(probe.as_uri(), tmp_path / "profile-page", budget_ms=5000)
    widths = [int(w) for w in re.search(r'data-widths="([\d,]*)"', dom).group(1).split(",")]
    assert len(widths) >= 3 and all(w > 0 for w in widths)
    assert "Verdict:" in dom and "<figcaption>" in dom
