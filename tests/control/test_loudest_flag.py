"""--loudest-audio / CALLSFU_LOUDEST_AUDIO: checked before anything is served."""

from __future__ import annotations

from pathlib import Path

import pytest

from control.cli import main
from control.config import Config


def test_out_of_range_values_stop_the_server_with_a_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["serve", "--loudest-audio", "33", "--data-dir", str(tmp_path)]) == 2
    assert "--loudest-audio must be between 0 (everyone) and 32, not 33" in capsys.readouterr().err
    monkeypatch.setenv("CALLSFU_LOUDEST_AUDIO", "-1")
    assert main(["serve", "--data-dir", str(tmp_path)]) == 2
    assert "not -1" in capsys.readouterr().err


def test_default_and_everyone() -> None:
    assert Config().loudest_audio == 3
    assert Config(loudest_audio=0).loudest_audio == 0
