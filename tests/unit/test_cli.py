"""The `calsync` command in-process: output contracts, one-line errors, exit codes, state-file handling.

The real subprocess round trip (up, env in bash, down) is tests/integration/test_sandbox_cli.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

from calsync.cli import main
from calsync.commands.sandbox import _sh_quote
from calsync.errors import ConfigError
from sandbox import control


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("CALSYNC_SANDBOX_HOME", str(home))
    monkeypatch.delenv("CALSYNC_DEBUG", raising=False)
    monkeypatch.delenv("CALSYNC_PROFILES", raising=False)
    return home


def _fake_profiles(monkeypatch: pytest.MonkeyPatch, load: Any) -> None:
    module = types.ModuleType("calsync.profiles")
    module.load_profiles = load  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "calsync.profiles", module)


def _stderr_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


class _Profile:
    def __init__(self, name: str) -> None:
        self.name = name

    def summary_line(self) -> str:
        return f"{self.name}: two_way Event"


def test_check_prints_one_line_per_profile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text("profiles: []\n")
    seen: list[Any] = []

    def load(p: Any) -> Any:
        seen.append(p)
        return types.SimpleNamespace(profiles=[_Profile("meetings"), _Profile("projects")])

    _fake_profiles(monkeypatch, load)
    assert main(["check", "--profiles", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == ["meetings: two_way Event", "projects: two_way Event"]
    assert seen == [path]


def test_check_config_error_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text("x: 1\n")

    def load(p: Any) -> Any:
        raise ConfigError("must be one of two_way,\nmailbox_to_salesforce", file=str(p), profile="meetings",
                          key="direction")

    _fake_profiles(monkeypatch, load)
    assert main(["check", "--profiles", str(path)]) == 2
    line = _stderr_line(capsys)
    assert str(path) in line and "'meetings'" in line and "'direction'" in line


def test_check_uses_calsync_profiles_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CALSYNC_PROFILES", str(tmp_path / "missing.yaml"))
    assert main(["check"]) == 2
    assert "missing.yaml: file not found" in _stderr_line(capsys)


def test_unexpected_errors_are_one_line_without_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text("x: 1\n")

    def load(p: Any) -> Any:
        raise KeyError("boom")

    _fake_profiles(monkeypatch, load)
    assert main(["check", "--profiles", str(path)]) == 1
    line = _stderr_line(capsys)
    assert "unexpected KeyError" in line and "CALSYNC_DEBUG" in line
    monkeypatch.setenv("CALSYNC_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["check", "--profiles", str(path)])


@pytest.mark.parametrize("args", [["nope"], ["sandbox", "up", "--graph-port", "x"], ["check", "--bogus"],
                                  ["sandbox", "up", "--data-dir", "d", "--ephemeral"]])
def test_usage_errors_exit_2_with_one_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    assert "--help" in _stderr_line(capsys)


def test_bare_group_shows_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox"]) == 2
    assert "Commands:" in capsys.readouterr().err


def test_sandbox_commands_without_a_sandbox(capsys: pytest.CaptureFixture[str], _home: Path) -> None:
    assert main(["sandbox", "env"]) == 1
    assert "calsync sandbox up" in _stderr_line(capsys)
    assert main(["sandbox", "seed"]) == 1
    assert "no sandbox is running" in _stderr_line(capsys)
    assert main(["sandbox", "status"]) == 1
    assert main(["sandbox", "down"]) == 0
    assert "no sandbox running" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["plain", "it's", '{"a": "b c", "d": "$HOME `x`"}', "new\nline", ""])
def test_env_values_survive_the_shell(value: str) -> None:
    out = subprocess.run(["bash", "-c", f"export V={_sh_quote(value)}; printf %s \"$V\""],
                         capture_output=True, text=True, check=True).stdout
    assert out == value


def test_env_prints_export_lines_of_the_running_sandbox(capsys: pytest.CaptureFixture[str], _home: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # A state file for this very process stands in for a running sandbox.
    monkeypatch.setattr(control, "_is_sandbox_process", lambda pid: pid == os.getpid())
    control.write_state(_home / "state.json", {"pid": os.getpid(), "urls": {}, "ca_bundle": "",
                                               "env": {"B": "it's", "A": "1"}})
    assert main(["sandbox", "env"]) == 0
    assert capsys.readouterr().out.splitlines() == ["export A='1'", "export B='it'\"'\"'s'"]


# --- control: the state file ------------------------------------------------------------------------


def test_state_file_is_private_and_complete(_home: Path) -> None:
    control.write_state(_home / "state.json", {"pid": 1, "env": {"X": "y"}})
    assert (_home / "state.json").stat().st_mode & 0o777 == 0o600
    assert json.loads((_home / "state.json").read_text())["env"] == {"X": "y"}
    assert [p.name for p in _home.iterdir()] == ["state.json"], "no temporary file left behind"


def test_a_stale_state_file_is_ignored_and_removed(_home: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    control.write_state(_home / "state.json", {"pid": proc.pid, "urls": {}, "ca_bundle": "", "env": {}})
    assert control.running_state() is None
    assert not (_home / "state.json").exists()
    assert not control.pid_alive(proc.pid)


def test_pid_alive_sees_through_zombies() -> None:
    # A grandchild that exits while its parent (not us) never reaps it: a zombie we cannot wait for,
    # which is what a killed sandbox looks like under a container init that does not reap.
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys, time\n"
         "p = subprocess.Popen(['true'])\n"
         "print(p.pid, flush=True)\n"
         "time.sleep(30)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        deadline = time.monotonic() + 10
        while control.pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not control.pid_alive(pid)
        assert Path(f"/proc/{pid}").exists(), "still a zombie: only its state says it is gone"
    finally:
        parent.kill()
        parent.wait()


def test_sandbox_module_rejects_bad_ports() -> None:
    from sandbox.__main__ import build_parser

    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["run", "--graph-port", "70000"])
    assert exc.value.code == 2
