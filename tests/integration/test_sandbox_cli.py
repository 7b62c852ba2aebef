"""`calsync sandbox` as a user runs it: real subprocesses, a real background server, bash evaluating the env.

Plus the sqlite-utils rule: every command has help text and is documented in docs/cli.md.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from calsync.cli import cli, main
from sandbox.control import pid_alive

ROOT = Path(__file__).resolve().parents[2]
CALSYNC = Path(sys.executable).parent / "calsync"
EPHEMERAL = ["--salesforce-port", "0", "--graph-port", "0", "--identity-port", "0"]

# Run inside `eval "$(calsync sandbox env)"`: reaches each server through the exported values only,
# with TLS verified against the exported CA bundle (requests reads REQUESTS_CA_BUNDLE, as
# simple-salesforce does; the token endpoint is checked with the CA file the msgraph connection names).
PROBE = r"""
import json, os, ssl, urllib.request
import requests
sf = json.loads(os.environ["AIRFLOW_CONN_SALESFORCE_DEFAULT"])
graph = json.loads(os.environ["AIRFLOW_CONN_MSGRAPH_DEFAULT"])
sf_url = "https://" + sf["extra"]["domain"].rstrip("#")
graph_url = graph["schema"] + "://" + graph["host"]
identity_url = graph["extra"]["authority"]
no_proxy = urllib.request.build_opener(
    urllib.request.ProxyHandler({}),
    urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=graph["extra"]["verify"])))
out = {
    "salesforce": requests.get(sf_url + "/__sandbox__/info", timeout=10).json(),
    "graph": json.load(no_proxy.open(graph_url + "/__sandbox__/info", timeout=10)),
    "identity": json.load(no_proxy.open(identity_url + "/__sandbox__/info", timeout=10)),
    "ca": os.environ["REQUESTS_CA_BUNDLE"],
    "urls": {k: os.environ["CALSYNC_SANDBOX_" + k.upper() + "_URL"]
             for k in ("salesforce", "graph", "identity")},
}
print(json.dumps(out))
"""


def _run(*args: str, env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CALSYNC), *args], env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=env["CALSYNC_SANDBOX_HOME"])


def _port_open(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((parts.hostname or "127.0.0.1", parts.port or 0)) == 0


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    home = tmp_path / "sandbox-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW_CONN_", "CALSYNC_")) and k != "REQUESTS_CA_BUNDLE"}
    env.update(CALSYNC_SANDBOX_HOME=str(home), NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    yield env
    # Never leave a server behind, whatever failed above.
    subprocess.run([str(CALSYNC), "sandbox", "down", "--grace", "2"], env=env, capture_output=True,
                   timeout=60, cwd=home)


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_up_env_status_down_round_trip(cli_env: dict[str, str]) -> None:
    home = Path(cli_env["CALSYNC_SANDBOX_HOME"])
    up = _run("sandbox", "up", *EPHEMERAL, env=cli_env)
    assert up.returncode == 0, up.stderr + up.stdout
    state = json.loads((home / "state.json").read_text())
    pid, urls = state["pid"], state["urls"]
    assert pid_alive(pid)
    assert urls["salesforce"] in up.stdout and urls["identity"] in up.stdout

    # The exports, evaluated by bash, lead to the live servers with TLS verified by the printed CA.
    env_out = _run("sandbox", "env", env=cli_env)
    assert env_out.returncode == 0, env_out.stderr
    assert all(re.fullmatch(r"export [A-Z_]+='.*'", line) for line in env_out.stdout.splitlines())
    script = f'set -euo pipefail; eval "$({CALSYNC} sandbox env)"; exec {sys.executable} -c "$PROBE"'
    probe = subprocess.run(["bash", "-c", script], env=dict(cli_env, PROBE=PROBE), capture_output=True,
                           text=True, timeout=60, cwd=home)
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout)
    assert seen["urls"] == urls
    assert seen["ca"] == state["ca_bundle"]
    for name in ("salesforce", "graph", "identity"):
        assert seen[name]["urls"] == urls, name

    # Only one sandbox per state folder.
    again = _run("sandbox", "up", *EPHEMERAL, env=cli_env)
    assert again.returncode != 0
    assert "already running" in _one_line_error(again)
    assert json.loads((home / "state.json").read_text())["pid"] == pid

    status = _run("sandbox", "status", env=cli_env)
    assert status.returncode == 0, status.stderr
    assert str(pid) in status.stdout and "answering" in status.stdout
    as_json = json.loads(_run("sandbox", "status", "--json", env=cli_env).stdout)
    assert as_json["running"] and as_json["healthy"] and as_json["pid"] == pid

    down = _run("sandbox", "down", env=cli_env)
    assert down.returncode == 0, down.stderr
    assert f"pid {pid}" in down.stdout
    assert not pid_alive(pid)
    assert not any(_port_open(u) for u in urls.values())
    assert not (home / "state.json").exists()
    assert (home / "data" / "snapshot.json").exists(), "SIGTERM saves the data folder"

    gone = _run("sandbox", "status", env=cli_env)
    assert gone.returncode == 1 and "no sandbox running" in gone.stdout
    no_env = _run("sandbox", "env", env=cli_env)
    assert no_env.returncode == 1 and no_env.stdout == ""
    assert "calsync sandbox up" in _one_line_error(no_env)
    assert _run("sandbox", "down", env=cli_env).returncode == 0, "down is idempotent"


def test_up_names_a_busy_port(cli_env: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run("sandbox", "up", *EPHEMERAL, "--graph-port", str(port), env=cli_env)
    assert result.returncode == 1
    line = _one_line_error(result)
    assert f"port {port}" in line and "graph" in line and "--graph-port" in line


def test_check_with_a_missing_file_exits_2_with_one_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "profiles.yaml"
    result = _run("check", "--profiles", str(missing), env=cli_env)
    assert result.returncode == 2
    line = _one_line_error(result)
    assert str(missing) in line and "not found" in line


def test_check_the_shipped_profiles(cli_env: dict[str, str]) -> None:
    import yaml

    path = ROOT / "include" / "profiles.yaml"
    result = _run("check", "--profiles", str(path), env=cli_env)
    assert result.returncode == 0, result.stderr
    profiles = yaml.safe_load(path.read_text())["profiles"]
    lines = result.stdout.splitlines()
    assert len(lines) == len(profiles)
    assert all(line.startswith(str(p["id"])) for line, p in zip(lines, profiles, strict=True))


def test_bad_input_is_one_line_and_non_zero(cli_env: dict[str, str]) -> None:
    for args in (["sandbox", "up", "--salesforce-port", "99999"], ["sandbox", "bogus"], ["nope"],
                 ["sandbox", "seed", "--records-per-object", "-1"]):
        result = _run(*args, env=cli_env)
        assert result.returncode == 2, args
        assert "--help" in _one_line_error(result), args


# --- every command has help text and a section in docs/cli.md ----------------------------------------


CommandPath = tuple[tuple[str, ...], click.Command]


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[CommandPath]:
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        yield path, command
        if isinstance(command, click.Group):
            yield from _commands(command, path)


COMMANDS = list(_commands(cli))


def test_there_are_commands_to_check() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"sandbox up", "sandbox down", "sandbox env", "sandbox status", "sandbox seed", "sandbox run",
            "check"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_command_has_help_and_is_documented(path: tuple[str, ...], command: click.Command,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert (command.help or "").strip(), f"calsync {' '.join(path)} has no help text"
    assert out.startswith(f"Usage: calsync {' '.join(path)}")
    docs = (ROOT / "docs" / "cli.md").read_text()
    assert f"calsync {' '.join(path)}" in docs, f"docs/cli.md does not mention `calsync {' '.join(path)}`"
    for param in command.params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("--") and opt != "--help":
                assert opt in docs, f"docs/cli.md does not mention {opt} of `calsync {' '.join(path)}`"
