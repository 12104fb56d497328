"""A new SQLite store opened by two processes at once: neither fails (MLflow alone fails one).
A store vgx makes has its larger pages; one made elsewhere is opened as it is."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy.exc import OperationalError

from vgx.store import tracking
from vgx.store.locks import store_lock


def _failing_then(errors: list[str], calls: list[float]):
    """A make_client that raises each of `errors` in turn, then returns "client"."""

    def make_client():
        calls.append(time.monotonic())
        if len(calls) <= len(errors):
            raise OperationalError("CREATE TABLE …", {}, Exception(errors[len(calls) - 1]))
        return "client"

    return make_client


def test_a_store_another_process_is_creating_is_waited_for(tmp_path):
    calls: list[float] = []
    race = ["table experiments already exists", "duplicate column name: step"]
    client = tracking.open_sqlite_store(_failing_then(race, calls), tmp_path / "mlflow.db")
    assert client == "client"
    assert len(calls) == 3


def test_any_other_store_error_is_raised_at_once(tmp_path):
    calls: list[float] = []
    make_client = _failing_then(["unable to open database file"], calls)
    with pytest.raises(OperationalError, match="unable to open"):
        tracking.open_sqlite_store(make_client, tmp_path / "mlflow.db")
    assert len(calls) == 1


def test_a_creator_that_never_finishes_is_waited_for_only_so_long(tmp_path, monkeypatch):
    monkeypatch.setattr(tracking, "STORE_CREATION_WAIT_S", 0.3)
    calls: list[float] = []
    make_client = _failing_then(["table experiments already exists"] * 1000, calls)
    with pytest.raises(OperationalError, match="already exists"):
        tracking.open_sqlite_store(make_client, tmp_path / "mlflow.db")
    assert 1 < len(calls) < 10
    assert calls[-1] - calls[0] >= 0.3


def test_vgx_processes_open_a_store_in_turn(tmp_path):
    database = tmp_path / "mlflow.db"
    calls: list[float] = []
    opened = threading.Thread(
        target=tracking.open_sqlite_store, args=(_failing_then([], calls), database)
    )
    with store_lock(database, "store"):  # flock: a second descriptor waits, as a process
        opened.start()
        time.sleep(0.3)
        assert calls == []
    opened.join(5)
    assert len(calls) == 1


_OPEN = """
import sys, time
from mlflow.tracking import MlflowClient
from vgx.store.tracking import mlflow_client
uri, start, how = sys.argv[1], float(sys.argv[2]), sys.argv[3]
while time.time() < start:
    pass
try:
    (mlflow_client if how == "vgx" else MlflowClient)(uri).search_experiments()
    print("opened")
except Exception as exc:
    print("failed:", str(exc).splitlines()[0])
"""


@pytest.mark.slow
@pytest.mark.parametrize("rounds", [6])
def test_vgx_opens_a_new_store_that_mlflow_creates_at_the_same_moment(tmp_path, rounds):
    """Measured without the wait: the two fail one of them in every round."""
    for round_ in range(rounds):
        uri = f"sqlite:///{tmp_path / f'mlflow{round_}.db'}"
        start = str(time.time() + 8)  # both have imported MLflow by then
        openers = {
            how: subprocess.Popen(
                [sys.executable, "-c", _OPEN, uri, start, how],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for how in ("vgx", "mlflow")
        }
        said = {how: p.communicate(timeout=120)[0].strip() for how, p in openers.items()}
        assert said["vgx"] == "opened", said


def test_a_new_store_someone_else_is_creating_is_waited_for_whatever_it_says(tmp_path):
    database = tmp_path / "mlflow.db"
    calls: list[float] = []

    def make_client():
        calls.append(time.monotonic())
        if len(calls) == 1:
            database.write_bytes(b"")  # the other creator has begun the file
            raise KeyError("dimension_attributes")  # a half-made table, as measured once
        return "client"

    assert tracking.open_sqlite_store(make_client, database) == "client"
    assert len(calls) == 2


def test_an_unknown_error_from_a_store_that_was_complete_is_raised_at_once(tmp_path):
    database = tmp_path / "mlflow.db"
    tracking.mlflow_client(f"sqlite:///{database}")  # a complete store
    calls: list[float] = []
    with pytest.raises(KeyError):
        tracking.open_sqlite_store(_raising(KeyError("dimension_attributes"), calls), database)
    assert len(calls) == 1


def test_a_file_that_is_no_database_is_refused_at_once(tmp_path):
    from mlflow.tracking import MlflowClient

    database = tmp_path / "notes.db"
    database.write_text("not sqlite")
    calls: list[float] = []

    def make_client():
        calls.append(time.monotonic())
        return MlflowClient(f"sqlite:///{database}")

    with pytest.raises(Exception, match="not a database"):
        tracking.open_sqlite_store(make_client, database)
    assert len(calls) == 1


def _raising(error: Exception, calls: list[float]):
    def make_client():
        calls.append(time.monotonic())
        raise error

    return make_client


def test_a_table_a_dead_migration_left_behind_is_dropped_and_the_store_opens(tmp_path, monkeypatch):
    """A creator that died between Alembic's copy and rename leaves `_alembic_tmp_<table>`:
    every later migration fails on it until it is gone; the runs' own tables stay."""
    import sqlite3

    monkeypatch.setattr(tracking, "LEFTOVER_AFTER_S", 0.2)
    database = tmp_path / "mlflow.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE _alembic_tmp_experiments (x INTEGER)")
        db.execute("CREATE TABLE experiments (x INTEGER)")
    calls: list[float] = []

    def make_client():
        calls.append(time.monotonic())
        with sqlite3.connect(database) as db:
            names = {n for (n,) in db.execute("SELECT name FROM sqlite_master")}
        if "_alembic_tmp_experiments" in names:
            message = "table _alembic_tmp_experiments already exists"
            raise OperationalError("CREATE TABLE …", {}, Exception(message))
        return "client"

    assert tracking.open_sqlite_store(make_client, database) == "client"
    assert calls[-1] - calls[0] >= 0.2  # waited for a live migration first
    with sqlite3.connect(database) as db:
        names = {n for (n,) in db.execute("SELECT name FROM sqlite_master")}
    assert names == {"experiments"}


def _page_size(database) -> int:
    with contextlib.closing(sqlite3.connect(database)) as db:
        assert db.execute("SELECT 1 FROM alembic_version").fetchone()  # MLflow's tables
        return db.execute("PRAGMA page_size").fetchone()[0]


def test_a_store_vgx_makes_has_its_page_size_and_nothing_beside_it(tmp_path):
    database = tmp_path / "mlflow.db"
    tracking.mlflow_client(f"sqlite:///{database}")
    assert _page_size(database) == tracking.STORE_PAGE_BYTES != 4096
    assert [p.name for p in tmp_path.iterdir()] == ["mlflow.db"]


def test_a_store_made_elsewhere_keeps_its_page_size(tmp_path):
    from mlflow.tracking import MlflowClient

    database = tmp_path / "mlflow.db"
    MlflowClient(f"sqlite:///{database}").search_experiments()  # MLflow makes it: 4 KiB pages
    tracking.mlflow_client(f"sqlite:///{database}")
    assert _page_size(database) == 4096
