"""Secrets stay off argv: ``--api-key-file``/``--turn-secret-file`` and the
``CALLSFU_API_KEY``/``CALLSFU_TURN_SECRET`` variables, on a real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from control.cli import main
from control.ice_servers import turn_credential
from tests.server import Server, http


def argv_of(server: Server) -> str:
    return Path(f"/proc/{server.proc.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_api_key_and_turn_secret_from_files(tmp_path: Path) -> None:
    key_file, turn_file = tmp_path / "api-key", tmp_path / "turn-secret"
    key_file.write_text("file-key-42\n")  # a trailing newline, as `echo` or an editor leaves it
    turn_file.write_text("  turn-file-secret  \n")
    server = Server(
        tmp_path / "server", "--api-key-file", str(key_file), "--turn-secret-file", str(turn_file),
        "--ice-server", "turn:127.0.0.1:3478",
    )  # fmt: skip
    try:
        assert "file-key-42" not in argv_of(server) and "turn-file-secret" not in argv_of(server)
        status, body = http("POST", server.url + "/api/links", {"type": "audio"})
        assert (status, body["error"]["code"]) == (401, "unauthorized")
        status, body = http("POST", server.url + "/api/links", {"type": "audio"}, {"Authorization": "Bearer file-key-42"})
        assert status == 201, body
        status, grant = http("POST", f"{server.url}/api/links/{body['token']}/join", {"name": "Ann"})
        assert status == 200, grant
        (turn,) = grant["ice_servers"]
        assert turn["credential"] == turn_credential("turn-file-secret", turn["username"])
    finally:
        server.stop()


def test_api_key_and_turn_secret_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSFU_API_KEY", "env-key-7")
    monkeypatch.setenv("CALLSFU_TURN_SECRET", "env-turn-secret")
    server = Server(tmp_path / "server", "--ice-server", "turn:127.0.0.1:3478")
    try:
        assert "env-key-7" not in argv_of(server)
        status, _ = http("POST", server.url + "/api/links", {"type": "audio"}, {"Authorization": "Bearer wrong"})
        assert status == 403
        status, body = http("POST", server.url + "/api/links", {"type": "audio"}, {"Authorization": "Bearer env-key-7"})
        assert status == 201
        _, grant = http("POST", f"{server.url}/api/links/{body['token']}/join", {"name": "Ann"})
        (turn,) = grant["ice_servers"]
        assert turn["credential"] == turn_credential("env-turn-secret", turn["username"])
    finally:
        server.stop()


def test_the_key_file_variable_works_for_the_link_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_text("cli-key\n")
    server = Server(tmp_path / "server", "--api-key-file", str(key_file))
    try:
        assert main(["link", "create", "--type", "video", "--server", server.url]) == 1
        assert "Authorization: Bearer KEY" in capsys.readouterr().err
        monkeypatch.setenv("CALLSFU_API_KEY_FILE", str(key_file))
        assert main(["link", "create", "--type", "video", "--server", server.url]) == 0
        assert '"url"' in capsys.readouterr().out
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("args", "content", "message"),
    [
        (["--api-key", "x", "--api-key-file", "{file}"], "k", "give --api-key or --api-key-file, not both"),
        (["--api-key-file", "{file}"], "  \n", "is empty"),
        (["--api-key-file", "{missing}"], None, "cannot read --api-key-file"),
        (["--turn-secret-file", "{file}"], b"\xff\xfe", "not UTF-8 text"),
        (["--turn-secret", "y", "--turn-secret-file", "{file}"], "t", "give --turn-secret or --turn-secret-file"),
    ],
)
def test_bad_secret_files_stop_the_server_with_a_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], content: str | bytes | None, message: str
) -> None:
    secret = tmp_path / "secret"
    if isinstance(content, bytes):
        secret.write_bytes(content)
    elif content is not None:
        secret.write_text(content)
    argv = [a.format(file=secret, missing=tmp_path / "nope") for a in args]
    assert main(["serve", "--data-dir", str(tmp_path / "data"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_secret_on_the_command_line_is_warned_about(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # a configuration error stops it before serving: only the warning matters here
    main(["serve", "--api-key", "visible", "--max-participants", "0", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert "--api-key on the command line shows in ps" in err and "--api-key-file" in err
