"""commtrail never opens a network connection: the whole demo runs with sockets disabled."""

import socket

import pytest

from commtrail.cli import main


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("commtrail tried to open a network connection")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_demo_runs_offline(tmp_path, no_network, capsys):
    code = main(["demo", str(tmp_path / "demo")])
    out = capsys.readouterr().out
    assert code == 0
    assert "master.parquet: 371 events." in out
    assert "│ Possibly deleted between backups    │   2 │" in out
    assert "verify: OK" in out
    assert (tmp_path / "demo" / "case" / "report" / "report.pdf").exists()
