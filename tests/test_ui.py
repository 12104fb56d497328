import pytest

from vgx.errors import UsageError
from vgx.store.tracking import default_store, tracking_uri
from vgx.store.ui import ui_arguments, ui_command_line


def test_ui_opens_the_store_that_train_writes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    default_store().parent.mkdir()
    default_store().touch()
    command = ui_command_line(ui_arguments([]))
    uri = command[command.index("--backend-store-uri") + 1]
    assert uri == tracking_uri(None) == f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}"
    assert command[command.index("--host") + 1] == "127.0.0.1"


def test_ui_opens_the_store_the_environment_names_as_train_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no outputs/mlflow.db here
    elsewhere = tmp_path / "runs" / "sweeps.db"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"SQLite format 3\x00")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{elsewhere}")
    command = ui_command_line(ui_arguments([]))
    assert command[command.index("--backend-store-uri") + 1] == f"sqlite:///{elsewhere}"


def test_ui_without_any_run_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(UsageError, match="vgx train"):
        ui_command_line(ui_arguments([]))


def test_ui_refuses_a_port_out_of_range():
    with pytest.raises(UsageError, match="--port=70000"):
        ui_arguments(["--port", "70000"])


def test_a_port_is_in_use_while_a_server_listens_not_while_its_closed_connections_linger():
    import socket

    from vgx.store.ui import free_port, port_in_use

    port = free_port("127.0.0.1")
    server = socket.create_server(("127.0.0.1", port))
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    assert port_in_use("127.0.0.1", port)
    accepted.close()  # the server's side closes first: its socket waits in TIME_WAIT
    client.close()
    server.close()
    assert not port_in_use("127.0.0.1", port)  # a new server could bind it
