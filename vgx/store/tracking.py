"""MLflow, and only here: the store, the run, batched writes (one MLflow call per value costs 8×
the training; one batch is cheap)."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vgx.errors import UsageError
from vgx.results import tracked
from vgx.store.locks import store_lock

# MLflow refuses more than 1,000 metrics or 100 params in one log_batch call.
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
# A long run sends what it has at most this often, so the UI shows it while it trains
# ($VGX_FLUSH_SECONDS changes it).
FLUSH_EVERY_S = float(os.environ.get("VGX_FLUSH_SECONDS", "10"))

# Tries of a write that SQLite refused as "database is locked" (backoff 0.05 s doubling up to 2 s).
LOCKED_RETRIES = 12

# A tracking server that does not answer: one retry, each request given up after this long
# (a frozen server fails a command within about 15 s).
HTTP_RETRIES = 1
HTTP_TIMEOUT_S = 6
HEALTH_TIMEOUT_S = 3  # the /health check before a report reads a server

# How long the first open of a new SQLite store waits for another process creating its tables.
STORE_CREATION_WAIT_S = 30.0
# A new store's SQLite page size. A sweep's runs add ~2 MB each to MLflow's metrics table and its
# three indexes, mostly in the middle of their B-trees: with 16 KiB pages a 1,000-run sweep held
# the store ~8% less time than with SQLite's default 4 KiB (fewer pages split, fewer levels).
STORE_PAGE_BYTES = 16384
# What the loser of two processes creating MLflow's tables at once is told by SQLite or MLflow.
CREATION_RACE_SIGNS = (
    "already exists",
    "duplicate column",
    "no such table",
    "no such column",
    "out-of-date database schema",
    "migration expected to match",
    "locked",
)

# Comma-separated parent run ids of the sweeps a run belongs to (a reused run joins several).
SWEEPS_TAG = "sweeps"
# host:pid of the process that opened a run: a run still RUNNING whose process is gone (kill -9,
# a dead machine's job) is closed as interrupted by the next vgx command on its store.
OWNER_TAG = "vgx.owner"

# MLflow 3's UI opens an experiment on its GenAI overview (traces, an assistant) unless the
# experiment says it holds model training: then it opens on the runs table.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"

# vgx's status tag → MLflow's run status: a diverged run finished, its divergence is the result.
RUN_STATUS = {
    "finished": "FINISHED",
    "diverged": "FINISHED",
    "interrupted": "KILLED",
    "failed": "FAILED",
}


def default_store(root: Path | None = None) -> Path:
    """The embedded SQLite store: outputs/mlflow.db under the working directory."""
    return (root or Path.cwd()) / "outputs" / "mlflow.db"


def tracking_uri(configured: str | None) -> str:
    """`tracking.uri`, else $MLFLOW_TRACKING_URI, else the embedded store (no server). A relative
    SQLite path (`sqlite:///runs.db`) is made absolute: the recording processes and the artifact
    folder beside it must agree on where it is."""
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{default_store()}"
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        path = uri.removeprefix("sqlite:///")
        if path and not path.startswith(":memory:") and not Path(path).is_absolute():
            uri = f"sqlite:///{Path(path).absolute()}"
    return uri


# The schemes of MLflow stores vgx reads and writes (a `+driver` may follow, as in SQLAlchemy).
STORE_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")
SQLITE_HEADER = b"SQLite format 3\x00"


def check_store(uri: str, must_exist: bool = False) -> None:
    """One line, within a second, for a store vgx cannot use: an unknown scheme, an in-memory
    SQLite store (it keeps nothing), a path that is a folder, not a database, or cannot be
    created; with `must_exist` (report, ui), a file that is not there (it is not created)."""
    scheme = uri.split("://", 1)[0].split("+", 1)[0] if "://" in uri else ""
    if scheme not in STORE_SCHEMES:
        raise UsageError(
            f"store {uri!r}: not an MLflow store vgx can use; expected a URI whose scheme is "
            f"one of {', '.join(STORE_SCHEMES)}"
        )
    if scheme != "sqlite":
        return
    path_text = uri.split("://", 1)[1].removeprefix("/")
    if not path_text or ":memory:" in path_text or "mode=memory" in path_text:
        raise UsageError(
            f"store {uri!r}: an in-memory SQLite store keeps nothing after vgx exits; name a "
            "file: sqlite:///path/to/mlflow.db"
        )
    path = Path(path_text).absolute()
    if path.is_dir():
        raise UsageError(f"store {uri!r}: {path} is a folder; name a database file in it")
    if path.exists():
        try:
            with open(path, "rb") as handle:
                header = handle.read(len(SQLITE_HEADER))
        except OSError as exc:
            raise UsageError(f"store {uri!r}: cannot read {path} ({exc.strerror})") from None
        if header and header != SQLITE_HEADER:
            raise UsageError(f"store {uri!r}: {path} is not an SQLite database")
        if not must_exist and not os.access(path, os.W_OK):
            raise UsageError(f"store {uri!r}: cannot write {path} (permission denied)")
        return
    if must_exist:
        raise UsageError(f"store {uri!r}: no such file; nothing has been recorded there")
    reason = why_not_creatable(path.parent)
    if reason is not None:
        raise UsageError(f"store {uri!r}: cannot create {path} ({reason})")


def why_not_creatable(folder: Path) -> str | None:
    """Why `folder` (or what is missing of it) could not be made here, or None: a folder made
    and removed in its nearest existing ancestor, as root's permissions and /proc say it."""
    existing = folder.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return "Not a directory"
    try:
        Path(tempfile.mkdtemp(dir=existing, prefix=".vgx-check-")).rmdir()
    except OSError as exc:
        return exc.strerror
    return None


def artifact_root(uri: str) -> str | None:
    """Beside an SQLite store, artifacts go to mlartifacts/ next to the database file."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()
    return None


def retry_when_locked(call, *args, **kwargs):
    """SQLite lets one writer in at a time; parallel jobs wait their turn instead of failing."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import OperationalError

    for attempt in range(LOCKED_RETRIES):
        try:
            return call(*args, **kwargs)
        except (MlflowException, OperationalError) as exc:
            if "locked" not in str(exc).lower() or attempt == LOCKED_RETRIES - 1:
                raise
            time.sleep(min(0.05 * 2**attempt, 2.0))
    return None


def check_reachable(uri: str) -> None:
    """A tracking server that is down is said so in seconds, not after minutes of retries."""
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=HEALTH_TIMEOUT_S):
            pass
    except (urllib.error.URLError, OSError) as exc:
        raise UsageError(f"tracking server {uri} cannot be reached ({exc})") from None


def mlflow_client(uri: str):
    """An MlflowClient on `uri`, with vgx's settings (short retries, quiet logs)."""
    from mlflow.tracking import MlflowClient

    if uri.startswith(("http://", "https://")):
        # MLflow retries a dead server with backoff for minutes; vgx says so within seconds.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(HTTP_RETRIES))
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(HTTP_TIMEOUT_S))

    for chatty in ("mlflow", "alembic"):  # table creation logs at INFO; vgx prints its own summary
        logging.getLogger(chatty).setLevel(logging.WARNING)

    if not uri.startswith("sqlite:///") or uri in _opened_stores:
        return MlflowClient(tracking_uri=uri)
    database = Path(uri.removeprefix("sqlite:///"))
    database.parent.mkdir(parents=True, exist_ok=True)
    client = open_sqlite_store(lambda: MlflowClient(tracking_uri=uri), database)
    _opened_stores.add(uri)
    return client


_opened_stores: set[str] = set()


def _store_connection(uri: str) -> tuple[Any, Any]:
    """(an MlflowClient, its SQLite writer or None) for a store, made once a process: a sweep's
    recording worker records hundreds of runs, and making both for each run cost ~5 ms of its
    ~100 (the writer reads the store's table layout)."""
    from vgx.store.sql_metrics import SqliteMetricWriter

    if uri not in _connections:
        client = mlflow_client(uri)
        _connections[uri] = (client, SqliteMetricWriter.for_client(client))
    return _connections[uri]


_connections: dict[str, tuple[Any, Any]] = {}

# Alembic alters an SQLite table by copying it into `_alembic_tmp_<table>`; a creator that dies
# between the copy and the rename leaves that table behind, and every later migration fails on
# it. One still there after this long belongs to no live migration (a new store's take
# milliseconds) and is dropped, so that the migration can run again.
LEFTOVER_AFTER_S = 2.0
LEFTOVER_PREFIX = "_alembic_tmp_"


def open_sqlite_store(make_client: Callable[[], Any], database: Path) -> Any:
    """make_client()'s client, whose store it opens (creating its tables if it is new) without
    racing another process.

    MLflow creates a new store's tables on first access, unlocked: of two processes that do it at
    once, one fails ("table experiments already exists": `vgx ui` started beside a first run,
    parallel jobs, a script watching the store). vgx's processes take turns on a lock file; one
    outside vgx (MLflow's own UI, a notebook) that creates it meanwhile is waited for.
    """
    deadline = time.monotonic() + STORE_CREATION_WAIT_S
    with store_lock(database, "store"):
        new = not _has_schema(database)
        made = _make_empty(database) if new else None  # its (size, time) as made
        leftover_since: float | None = None
        while True:
            try:
                return make_client()  # MLflow opens the store as it makes the client
            except Exception as exc:  # SQLAlchemy's, MLflow's and Alembic's errors all say it
                message = str(exc).lower()
                if new and LEFTOVER_PREFIX in message:
                    leftover_since = leftover_since or time.monotonic()
                    if time.monotonic() - leftover_since >= LEFTOVER_AFTER_S:
                        _drop_leftover_tables(database)
                        leftover_since = None
                racing = any(sign in message for sign in CREATION_RACE_SIGNS)
                # a store that was new and now exists is being created: its half-made tables
                # fail in more ways than the messages above (a column name alone, once)
                begun = _size_and_time(database) not in (None, made)
                creating = new and begun and "not a database" not in message
                racing = racing or creating
                if not racing or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def _make_empty(database: Path) -> tuple[int, int] | None:
    """Put an empty SQLite file with `STORE_PAGE_BYTES` pages where the store goes (a page
    size holds only if set before the first table); its size and time, None if not made.
    Never over a file another process made meanwhile; where a link cannot be made, MLflow
    makes the file as it would."""
    import sqlite3

    if database.exists() or not database.parent.is_dir():
        return None
    partial = database.with_name(f".{database.name}.{os.getpid()}.new")
    try:
        with contextlib.closing(sqlite3.connect(partial, isolation_level=None)) as db:
            db.execute(f"PRAGMA page_size = {STORE_PAGE_BYTES}")
            db.execute("VACUUM")  # writes the header, and with it the page size
        os.link(partial, database)
        return _size_and_time(database)
    except (OSError, sqlite3.Error):
        return None
    finally:
        partial.unlink(missing_ok=True)


def _size_and_time(path: Path) -> tuple[int, int] | None:
    """What tells a file changed since it was made here; None where there is none."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_size, status.st_mtime_ns


def _drop_leftover_tables(database: Path) -> None:
    """Drop the copies a dead migration left (only `_alembic_tmp_*` tables: nothing of a run)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(database)) as db:
        tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        for (name,) in tables:
            if name.startswith(LEFTOVER_PREFIX):
                db.execute(f'DROP TABLE "{name}"')
        db.commit()


def _has_schema(database: Path) -> bool:
    """Whether MLflow's schema was begun in this file (read-only: nothing is created)."""
    import sqlite3

    if not database.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            return db.execute("SELECT 1 FROM alembic_version").fetchone() is not None
    except sqlite3.Error:
        return False


def experiment_id(client, name: str, uri: str) -> str:
    """Get or create the experiment; a parallel job that loses the creation race reads it back."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            raise UsageError(f"tracking.experiment={name!r}: this experiment was deleted in MLflow")
        if found.tags.get(EXPERIMENT_KIND_TAG) is None:  # made by an earlier vgx, or by hand
            retry_when_locked(
                client.set_experiment_tag, found.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING
            )
        return found.experiment_id
    try:
        return client.create_experiment(
            name, artifact_location=artifact_root(uri), tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING}
        )
    except MlflowException:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


class RunRecorder:
    """One MLflow run: params and tags at the start, metrics buffered and sent in batches.

    `whole=True` is for a run recorded after it trained (a stack's): nothing is written until
    `finish`, which writes the whole run in one transaction where the store is SQLite (a fifth
    of the per-call path's cost beside the metric rows), through MLflow's calls elsewhere."""

    def __init__(self, uri: str, experiment: str, whole: bool = False) -> None:
        self.uri = uri
        self.experiment = experiment
        self.whole = whole
        self.run_id: str | None = None
        self._pending: list = []
        self._last_flush = time.monotonic()
        self._client = None
        self._sqlite = None  # the bulk path, where the store is SQLite
        self._opening: tuple | None = None  # start()'s arguments, while a whole run waits

    def start(
        self,
        run_name: str,
        params: dict[str, str],
        tags: dict[str, str],
        parent: str | None = None,
        started_ms: int | None = None,
    ) -> str | None:
        """Create the run (its id), or, for a whole run, keep what creates it (None)."""
        self._opening = (run_name, params, tags, parent, started_ms)
        if self.whole:
            return None
        return self._create(*self._opening)

    def _create(
        self,
        run_name: str,
        params: dict[str, str],
        tags: dict[str, str],
        parent: str | None,
        started_ms: int | None,
    ) -> str:
        from mlflow.entities import Param

        exp_id = self._open_store()
        run = retry_when_locked(
            self._client.create_run,
            exp_id,
            start_time=started_ms,
            run_name=run_name,
            tags=self._run_tags(tags, parent),
        )
        self.run_id = run.info.run_id
        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
            chunk = items[i : i + MAX_PARAMS_PER_BATCH]
            retry_when_locked(self._client.log_batch, self.run_id, params=chunk)
        return self.run_id

    def _open_store(self) -> str:
        """Connect, close what dead processes left running (once), and the experiment's id
        (asked once a process: a sweep's thousand children share it)."""
        self._connect()
        reconcile_once(self._client, self.uri)
        key = (self.uri, self.experiment)
        if key not in _experiment_ids:
            _experiment_ids[key] = experiment_id(self._client, self.experiment, self.uri)
        return _experiment_ids[key]

    @staticmethod
    def _run_tags(tags: dict[str, str], parent: str | None) -> dict[str, str]:
        all_tags = {**tags, "status": "running", OWNER_TAG: owner()}
        if parent:
            all_tags["mlflow.parentRunId"] = parent
            all_tags[SWEEPS_TAG] = parent
        return all_tags

    def _connect(self) -> None:
        self._client, self._sqlite = _store_connection(self.uri)

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        now = now_ms()
        self._pending.extend((k, v, now, epoch) for k, v in tracked(metrics).items())
        if time.monotonic() - self._last_flush > FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        """Send the buffered (key, value, timestamp, step) values; they leave the buffer only
        once sent (MLflow drops the duplicates should a cut-off flush be repeated). A whole run
        keeps them for `finish`."""
        from mlflow.entities import Metric

        if self.whole and self.run_id is None:
            return
        pending = self._pending
        if self._sqlite is not None and pending:
            retry_when_locked(self._sqlite.write, self.run_id, pending)
            pending = []
        # Grouped by key, a batch touches few keys: MLflow's SQL store updates its latest-value
        # table once per key and batch, which is half its cost when every batch holds every key.
        metrics = [Metric(*value) for value in sorted(pending, key=lambda m: (m[0], m[3]))]
        for i in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            chunk = metrics[i : i + MAX_METRICS_PER_BATCH]
            retry_when_locked(self._client.log_batch, self.run_id, metrics=chunk)
        self._pending = []
        self._last_flush = time.monotonic()

    def finish(
        self,
        status: str,
        tags: dict[str, str],
        artifacts: Path | None,
        figures=None,  # noqa: ANN001 - a vgx.store.run_figures.RunFigures
        ended_ms: int | None = None,
    ) -> dict[str, float]:
        """Send what is left, render the figures into the artifacts, send those and the final
        tags, then close the run (at `ended_ms`, where the training says when it ended).
        Returns the seconds the figures took."""
        from mlflow.entities import RunTag

        if self.whole:
            return self._finish_whole(status, tags, artifacts, figures, ended_ms)
        try:
            self.flush()
        except Exception:
            if status not in ("failed", "interrupted"):
                raise
            self._pending = []  # the store may be what failed: what it refused is lost
        seconds = {}
        if figures is not None:
            clock = time.perf_counter()
            figures.render()
            seconds["figures"] = time.perf_counter() - clock
        if artifacts is not None:
            self._client.log_artifacts(self.run_id, str(artifacts))
        final_tags = [RunTag(k, v) for k, v in {**tags, "status": status}.items()]
        retry_when_locked(self._client.log_batch, self.run_id, tags=final_tags)
        retry_when_locked(
            self._client.set_terminated, self.run_id, status=RUN_STATUS[status], end_time=ended_ms
        )
        return seconds

    def _finish_whole(
        self,
        status: str,
        tags: dict[str, str],
        artifacts: Path | None,
        figures,  # noqa: ANN001
        ended_ms: int | None,
    ) -> dict[str, float]:
        """The whole run in one transaction (SQLite), else as MLflow's calls make it."""
        seconds = {}
        if figures is not None:
            clock = time.perf_counter()
            figures.render()
            seconds["figures"] = time.perf_counter() - clock
        run_name, params, start_tags, parent, started_ms = self._opening
        exp_id = self._open_store()
        if self._sqlite is None:
            self.whole = False
            self._create(run_name, params, start_tags, parent, started_ms)
            return {**self.finish(status, tags, artifacts, None, ended_ms), **seconds}
        all_tags = {**self._run_tags(start_tags, parent), **tags, "status": status}
        run = self._sqlite.prepare_run(
            exp_id,
            artifact_location(self._client, self.uri, exp_id),
            run_name,
            started_ms if started_ms is not None else now_ms(),
            ended_ms if ended_ms is not None else now_ms(),
            RUN_STATUS[status],
            all_tags,
            params,
            self._pending,
        )
        group = _run_group.get()
        if group is None:
            retry_when_locked(self._sqlite.write_runs, [run])
        else:
            group.add(self._sqlite, run)
        self.run_id, artifact_uri = run.run_id, run.artifact_uri
        self._pending = []
        if artifacts is not None:  # straight to the run's artifact store: no query for its URI
            from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

            get_artifact_repository(artifact_uri).log_artifacts(str(artifacts))
        return seconds


class _RunGroup:
    """Whole runs waiting to be written together, a transaction for each `size` of them."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._waiting: list[tuple[Any, Any]] = []  # (SqliteMetricWriter, PreparedRun)

    def add(self, writer, run) -> None:  # noqa: ANN001 - vgx.store.sql_metrics'
        self._waiting.append((writer, run))
        if len(self._waiting) >= self.size:
            self.write()

    def write(self) -> None:
        """Write what waits, a transaction a store."""
        waiting, self._waiting = self._waiting, []
        by_store: dict[str, tuple[Any, list]] = {}
        for writer, run in waiting:
            by_store.setdefault(writer.database, (writer, []))[1].append(run)
        for writer, runs in by_store.values():
            retry_when_locked(writer.write_runs, runs)


_run_group: contextvars.ContextVar[_RunGroup | None] = contextvars.ContextVar(
    "vgx_run_group", default=None
)

# Whole runs a transaction inside `runs_written_together` (see SqliteMetricWriter.write_runs).
RUNS_A_TRANSACTION = 16


@contextlib.contextmanager
def runs_written_together(size: int = RUNS_A_TRANSACTION):  # noqa: ANN201
    """Whole runs (a stack's, recorded after it trained) finished inside share SQLite
    transactions: a third less time a run than one transaction each. Those still waiting are
    written on the way out, an error or not: a run whose recording ended is not lost to a
    later run's error."""
    group = _RunGroup(size)
    token = _run_group.set(group)
    try:
        yield
    finally:
        _run_group.reset(token)
        group.write()


_experiment_ids: dict[tuple[str, str], str] = {}
_artifact_locations: dict[tuple[str, str], str] = {}


def artifact_location(client, uri: str, exp_id: str) -> str:  # noqa: ANN001 - an MlflowClient
    """The experiment's artifact location (it never changes), asked once a store and process."""
    key = (uri, exp_id)
    if key not in _artifact_locations:
        _artifact_locations[key] = client.get_experiment(exp_id).artifact_location
    return _artifact_locations[key]


def now_ms() -> int:
    """Wall-clock time as MLflow keeps a run's start and end and a value's timestamp."""
    return int(time.time() * 1000)


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's: alive
        return True
    return True


_reconciled: set[str] = set()


def reconcile_once(client, uri: str) -> list[str]:  # noqa: ANN001 - an MlflowClient
    """Close as interrupted (MLflow: KILLED) the runs left RUNNING by a vgx process of this host
    that no longer exists: a `kill -9`, a crash. Once per store and process; returns their ids.
    Runs of other hosts are left alone (their owner cannot be asked)."""
    if uri in _reconciled:
        return []
    _reconciled.add(uri)
    here = socket.gethostname()
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    running = client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'")
    closed = []
    for run in running:
        host, _, pid = run.data.tags.get(OWNER_TAG, "").rpartition(":")
        if host != here or not pid.isdigit() or _process_alive(int(pid)):
            continue
        close_left_open(client, run.info.run_id, "interrupted", {"vgx.closed_by": "owner gone"})
        closed.append(run.info.run_id)
    return closed


def warm_up() -> None:
    """Import what a run's recording needs (the recording process does it while a run trains)."""
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    from mlflow.tracking import MlflowClient  # noqa: F401


def start_sweep(
    uri: str,
    experiment: str,
    overrides: list[str],
    study: str | None = None,
    run_id: str | None = None,
) -> str:
    """The sweep's parent run, made once before any job starts (jobs making it would race); its
    id. With `run_id` (chosen by the sweep's process, which composes its jobs meanwhile instead
    of waiting) it gets that id where the store takes vgx's bulk writes, else one of MLflow's."""
    name = (f"study {study}" if study else "sweep " + " ".join(overrides))[:250]
    tags = {"vgx.kind": "sweep", **({"vgx.study": study} if study else {})}
    params = {"overrides": " ".join(overrides)[:6000]}
    if run_id is not None:
        opener = RunRecorder(uri, experiment, whole=True)
        exp_id = opener._open_store()
        if opener._sqlite is not None:
            run = opener._sqlite.prepare_run(
                exp_id,
                artifact_location(opener._client, uri, exp_id),
                name,
                now_ms(),
                None,
                "RUNNING",
                opener._run_tags(tags, None),
                params,
                [],
                run_id=run_id,
            )
            retry_when_locked(opener._sqlite.write_runs, [run])
            return run_id
    return RunRecorder(uri, experiment).start(name, params, tags)


def finish_sweep(uri: str, run_id: str, status: str, report: Path | None) -> None:
    """Close the parent run; its report's files become its artifacts under report/."""
    if report is not None:
        log_folder(uri, run_id, report)
    recorder = RunRecorder(uri, "")
    recorder._connect()
    recorder.run_id = run_id
    recorder.finish(status, {}, None)


def describe_parent(
    uri: str, run_id: str, description: str, tags: dict[str, str], metrics: dict[str, float]
) -> None:
    """What a sweep's parent run shows in the UI: its description (Markdown), tags such as a
    study's `verdict`, and the report's headline numbers as its metrics."""
    from mlflow.entities import Metric, RunTag

    client = mlflow_client(uri)
    now = now_ms()
    all_tags = [RunTag("mlflow.note.content", description)]
    all_tags += [RunTag(k, v) for k, v in tags.items()]
    values = [Metric(k, v, now, 0) for k, v in metrics.items()]
    retry_when_locked(client.log_batch, run_id, metrics=values, tags=all_tags)


def log_folder(uri: str, run_id: str, folder: Path, artifact_path: str = "report") -> None:
    mlflow_client(uri).log_artifacts(run_id, str(folder), artifact_path)


def latest_sweep_run(client, experiment_ids: list[str]):  # noqa: ANN001, ANN201 - MLflow's
    """The sweep parent run that started last in these experiments, or None."""
    found = client.search_runs(
        experiment_ids,
        filter_string="tags.`vgx.kind` = 'sweep'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return found[0] if found else None


def find_run(client, run_id: str):  # noqa: ANN001, ANN201 - an MlflowClient, an MLflow Run
    """The run, or None where the store has none of that id."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException:
        return None


class StoreRefused(ValueError):
    """The store refused a query (a filter string MLflow cannot parse); its first line."""


def runs_table(  # noqa: ANN201 - a pandas DataFrame
    uri: str, experiment_ids: list[str], filter_string: str = "", sweep: str | None = None
):
    """The runs as MLflow's pandas table: a row a run, columns params.*, metrics.*, tags.*;
    a sweep's (`sweep`: its parent's id in their `sweeps` tag) and those `filter_string` keeps.
    Read straight from an SQL store's tables where no filter string is given: MLflow's search
    builds an object a value (4 s for the 1,000 runs of a sweep, against 0.3 s)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from vgx.store.sql_metrics import sql_store

    store = sql_store(mlflow_client(uri))
    if not filter_string and store is not None:
        return _runs_table_sql(store, experiment_ids, sweep)
    if sweep:
        clause = f"tags.{SWEEPS_TAG} LIKE '%{sweep}%'"
        filter_string = f"{clause} and {filter_string}" if filter_string else clause
    mlflow.set_tracking_uri(uri)
    try:
        return mlflow.search_runs(
            experiment_ids=experiment_ids, filter_string=filter_string, output_format="pandas"
        )
    except MlflowException as exc:
        raise StoreRefused(str(exc).strip().splitlines()[0]) from None


def _runs_table_sql(store, experiment_ids: list[str], sweep: str | None):  # noqa: ANN001, ANN202
    """`runs_table` from MLflow's tables: the active runs of the experiments (of the sweep),
    newest first, each key's latest value, params and tags as MLflow's search gives them."""
    import numpy as np
    import pandas as pd
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlParam, SqlRun, SqlTag
    from sqlalchemy import select

    chosen = select(SqlRun.run_uuid).where(
        SqlRun.experiment_id.in_([int(e) for e in experiment_ids]),
        SqlRun.lifecycle_stage == "active",
    )
    if sweep:
        members = select(SqlTag.run_uuid).where(
            SqlTag.key == SWEEPS_TAG, SqlTag.value.contains(sweep, autoescape=True)
        )
        chosen = chosen.where(SqlRun.run_uuid.in_(members))
    with store.engine.connect() as connection:
        runs = pd.DataFrame(
            connection.execute(
                select(
                    SqlRun.run_uuid,
                    SqlRun.experiment_id,
                    SqlRun.status,
                    SqlRun.artifact_uri,
                    SqlRun.start_time,
                    SqlRun.end_time,
                )
                .where(SqlRun.run_uuid.in_(chosen))
                .order_by(SqlRun.start_time.desc(), SqlRun.run_uuid)
            ).all(),
            columns=["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"],
        )
        values = {}
        for prefix, model, value in (
            ("metrics.", SqlLatestMetric, SqlLatestMetric.value),
            ("params.", SqlParam, SqlParam.value),
            ("tags.", SqlTag, SqlTag.value),
        ):
            columns = [model.run_uuid, model.key, value]
            if model is SqlLatestMetric:
                columns.append(SqlLatestMetric.is_nan)
            rows = connection.execute(select(*columns).where(model.run_uuid.in_(chosen))).all()
            values[prefix] = rows
    order = {run_id: i for i, run_id in enumerate(runs["run_id"])}
    data = {
        "run_id": list(runs["run_id"]),
        "experiment_id": [str(e) for e in runs["experiment_id"]],
        "status": list(runs["status"]),
        "artifact_uri": list(runs["artifact_uri"]),
        "start_time": [pd.to_datetime(t, unit="ms", utc=True) for t in runs["start_time"]],
        "end_time": [pd.to_datetime(t, unit="ms", utc=True) for t in runs["end_time"]],
    }
    for prefix, rows in values.items():  # as MLflow's table: a list a column, None (NaN) absent
        absent = np.nan if prefix == "metrics." else None
        columns: dict[str, list] = {}
        for row in rows:
            column = columns.setdefault(prefix + row[1], [absent] * len(order))
            value = row[2]
            if prefix == "metrics.":
                value = math.nan if row[3] else float(value)
            column[order[row[0]]] = value
        data |= dict(sorted(columns.items()))
    return pd.DataFrame(data)


def find_finished(uri: str, experiment: str, hashes: list[str]) -> dict:
    """For each config_hash that has one, the newest active run of `experiment` with it whose
    training ended (finished or diverged). On an SQL store one query per thousand hashes: a
    search a hash (~7 ms) kept a 1,000-run sweep from training for ~7 s."""
    client = mlflow_client(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None or not hashes:
        return {}
    from vgx.store.sql_metrics import sql_store

    store = sql_store(client)
    if store is not None:
        newest = _finished_in_sql(store, found.experiment_id, hashes)
    else:
        newest = {}
        for config_hash in dict.fromkeys(hashes):
            runs = client.search_runs(
                [found.experiment_id],
                filter_string=f"tags.config_hash = '{config_hash}'",  # MLflow has no IN for tags
                order_by=["attributes.start_time DESC"],
            )
            done = [r for r in runs if r.data.tags.get("status") in ENDED_TRAINING]
            if done:
                newest[config_hash] = done[0].info.run_id
    return {config_hash: client.get_run(run_id) for config_hash, run_id in newest.items()}


# vgx's status tags of a run whose training ended: a sweep with resume on reuses it.
ENDED_TRAINING = ("finished", "diverged")
SQL_IN_CHUNK = 900  # SQLite allows 999 bound values a statement before 3.32


def _finished_in_sql(store, experiment_id: str, hashes: list[str]) -> dict[str, str]:  # noqa: ANN001 - MLflow's SqlAlchemyStore
    """config_hash → the run id of the newest active run of the experiment with it whose
    training ended, read from MLflow's tables."""
    from mlflow.store.tracking.dbmodels.models import SqlRun, SqlTag
    from sqlalchemy import and_, select
    from sqlalchemy.orm import aliased

    status = aliased(SqlTag)
    unique = list(dict.fromkeys(hashes))
    newest: dict[str, tuple[int, str]] = {}
    with store.engine.connect() as connection:
        for start in range(0, len(unique), SQL_IN_CHUNK):
            query = (
                select(SqlTag.value, SqlRun.start_time, SqlRun.run_uuid)
                .join(SqlRun, SqlRun.run_uuid == SqlTag.run_uuid)
                .join(status, and_(status.run_uuid == SqlRun.run_uuid, status.key == "status"))
                .where(
                    SqlTag.key == "config_hash",
                    SqlTag.value.in_(unique[start : start + SQL_IN_CHUNK]),
                    SqlRun.experiment_id == int(experiment_id),
                    SqlRun.lifecycle_stage == "active",
                    status.value.in_(ENDED_TRAINING),
                )
            )
            for config_hash, started, run_id in connection.execute(query):
                held = newest.get(config_hash)
                if held is None or (started or 0, run_id) > held:
                    newest[config_hash] = (started or 0, run_id)
    return {config_hash: run_id for config_hash, (_, run_id) in newest.items()}


def add_to_sweep(uri: str, run_id: str, parent: str) -> None:
    """A reused run joins the new sweep too: `tags.sweeps` lists every sweep it belongs to."""
    client = mlflow_client(uri)
    before = client.get_run(run_id).data.tags.get(SWEEPS_TAG, "")
    members = [p for p in before.split(",") if p]
    if parent not in members:
        retry_when_locked(client.set_tag, run_id, SWEEPS_TAG, ",".join([*members, parent]))


def sweep_children(
    uri: str, experiment: str, parent: str | None, names: list[str]
) -> dict[str, tuple[str, str]]:
    """The runs of these names under the sweep's parent: name → (run id, MLflow status)."""
    client = mlflow_client(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None or parent is None:
        return {}
    wanted, out, token = set(names), {}, None
    while True:  # a page at a time: a sweep may have more children than one page holds
        page = client.search_runs(
            [found.experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{parent}'",
            max_results=1000,
            page_token=token,
        )
        out |= {r.info.run_name: (r.info.run_id, r.info.status) for r in page}
        token = page.token
        if not token:
            return {name: run for name, run in out.items() if name in wanted}


def close_failed(uri: str, run_id: str, error: str) -> None:
    """Close a run its process left half-recorded (it died) as failed, saying why."""
    tags = {"vgx.error": error[:5000], "vgx.closed_by": "sweep"}
    close_left_open(mlflow_client(uri), run_id, "failed", tags)


def close_left_open(client, run_id: str, status: str, tags: dict[str, str]) -> None:  # noqa: ANN001
    """End a run whose process is gone: vgx's status tag (and `tags`), then MLflow's status."""
    from mlflow.entities import RunTag

    all_tags = [RunTag(k, v) for k, v in {"status": status, **tags}.items()]
    retry_when_locked(client.log_batch, run_id, tags=all_tags)
    retry_when_locked(client.set_terminated, run_id, status=RUN_STATUS[status])
