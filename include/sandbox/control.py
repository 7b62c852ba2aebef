"""Run the sandbox in the foreground, or as a background process that later commands can find.

The background process is ``python -m sandbox run`` in its own session; it announces itself with a
state file (pid, URLs, CA bundle, the env exports) written atomically once every server answers.
``up``/``down``/``env``/``status``/``seed`` only ever talk to it through that file and the admin API,
so they work from any shell, including one that did not start it.

The state folder is ``$CALSYNC_SANDBOX_HOME`` or ``.sandbox/`` under the current directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.http import ADMIN_PREFIX

# Fixed ports for `calsync sandbox up|run`, so a user's exported env stays valid across restarts.
# Tests pass 0 (ephemeral) instead.
DEFAULT_PORTS = {"salesforce": 8443, "graph": 8766, "identity": 8444}
PORT_FLAGS = {"salesforce": "--salesforce-port", "graph": "--graph-port", "identity": "--identity-port"}

STATE_FILE = "state.json"
LOG_FILE = "sandbox.log"
DATA_DIR = "data"


class SandboxError(Exception):
    """Anything the CLI should print as one line and exit non-zero for."""


class SandboxNotRunning(SandboxError):
    pass


class SandboxAlreadyRunning(SandboxError):
    pass


class PortInUse(SandboxError):
    pass


@dataclass(frozen=True)
class Ports:
    salesforce: int = 0
    graph: int = 0
    identity: int = 0

    def items(self) -> list[tuple[str, int]]:
        return [("salesforce", self.salesforce), ("graph", self.graph), ("identity", self.identity)]


# --- paths ------------------------------------------------------------------------------------------


def sandbox_home(home: str | Path | None = None) -> Path:
    raw = home or os.environ.get("CALSYNC_SANDBOX_HOME") or Path.cwd() / ".sandbox"
    return Path(raw).expanduser().resolve()


def state_path(home: str | Path | None = None) -> Path:
    return sandbox_home(home) / STATE_FILE


def log_path(home: str | Path | None = None) -> Path:
    return sandbox_home(home) / LOG_FILE


# --- state file -------------------------------------------------------------------------------------


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Write atomically: a reader never sees half a file, and never a file before the servers answer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-", suffix=".tmp")
    try:
        # 0600: the env holds the demo credentials (harmless outside the sandbox, but still credentials).
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(state, f, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_state(home: str | Path | None = None, path: Path | None = None) -> dict[str, Any] | None:
    path = path or state_path(home)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise SandboxError(f"unreadable sandbox state file {path}: {e}; delete it and retry") from e


# --- processes --------------------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """True when ``pid`` runs and is not a zombie (a killed child we have not reaped yet)."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)  # reaps it if it is our own child
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        # Field 3 of /proc/<pid>/stat is the state; the command name before it may contain spaces.
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _is_sandbox_process(pid: int) -> bool:
    """Guards against a stale state file whose pid now belongs to some other program."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return pid_alive(pid)  # no /proc: trust the pid
    return pid_alive(pid) and any(b"sandbox" in part for part in cmdline)


def running_state(home: str | Path | None = None) -> dict[str, Any] | None:
    """The state of the running sandbox; a stale file (its process is gone) is removed."""
    state = read_state(home)
    if state is None:
        return None
    if _is_sandbox_process(int(state.get("pid", 0))):
        return state
    with contextlib.suppress(FileNotFoundError):
        state_path(home).unlink()
    return None


def require_running(home: str | Path | None = None) -> dict[str, Any]:
    state = running_state(home)
    if state is None:
        raise SandboxNotRunning(
            f"no sandbox is running under {sandbox_home(home)}; start one with `calsync sandbox up`")
    return state


# --- admin API --------------------------------------------------------------------------------------


def _opener(ca_bundle: str | None) -> urllib.request.OpenerDirector:
    # No proxies: the sandbox is on 127.0.0.1, and an http_proxy in the environment must not reroute it.
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if ca_bundle:
        handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca_bundle)))
    return urllib.request.build_opener(*handlers)


def admin_request(base_url: str, method: str, path: str, body: dict[str, Any] | None = None,
                  ca_bundle: str | None = None, timeout: float = 30.0) -> Any:
    """Call ``{base_url}/__sandbox__/{path}`` and return the decoded JSON answer."""
    url = f"{base_url.rstrip('/')}{ADMIN_PREFIX}/{path.lstrip('/')}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with _opener(ca_bundle).open(req, timeout=timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        detail = e.read().decode("utf-8", "replace").strip().replace("\n", " ")[:300]
        raise SandboxError(f"{method} {ADMIN_PREFIX}/{path} answered HTTP {e.code}: {detail}") from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise SandboxError(f"{method} {url} failed: {reason}") from e
    return json.loads(raw) if raw else None


def check_servers(state: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """GET the admin info of every server; raises SandboxError naming the first that does not answer."""
    answers = {}
    for name, url in state["urls"].items():
        answers[name] = admin_request(url, "GET", "info", ca_bundle=state["ca_bundle"], timeout=timeout)
    return answers


# --- foreground -------------------------------------------------------------------------------------


def check_ports_free(ports: Ports) -> None:
    """Name the busy port before the Sandbox tries (its bind error would not say which server)."""
    for name, port in ports.items():
        if not port:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # same as the servers: TIME_WAIT is fine
            try:
                s.bind(("127.0.0.1", port))
            except OSError as e:
                raise PortInUse(
                    f"port {port} for the {name} emulator is not free ({e.strerror}); stop what uses it "
                    "(`calsync sandbox down` if it is a sandbox of this state folder) "
                    f"or pass {PORT_FLAGS[name]} N (0 = any)"
                ) from e


def run_foreground(ports: Ports = Ports(), data_dir: str | Path | None = None, seed: int = 0,
                   demo_records: int = 0, state_file: str | Path | None = None, fresh: bool = False,
                   echo: Any = print) -> int:
    """Serve until SIGINT/SIGTERM/SIGHUP; the state file exists exactly while the servers answer."""
    from sandbox.runner import Sandbox

    state_file = Path(state_file) if state_file else state_path()
    other = read_state(path=state_file)
    if other and other.get("pid") != os.getpid() and _is_sandbox_process(int(other.get("pid", 0))):
        raise SandboxAlreadyRunning(
            f"a sandbox is already running (pid {other['pid']}, state {state_file}); "
            "stop it with `calsync sandbox down`")
    if data_dir and fresh:
        # The saved snapshot lives in the data folder (Sandbox.save); --fresh starts empty instead.
        with contextlib.suppress(FileNotFoundError):
            (Path(data_dir) / "snapshot.json").unlink()
    check_ports_free(ports)

    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    t0 = time.monotonic()
    try:
        try:
            sb = Sandbox(data_dir=data_dir, seed=seed, salesforce_port=ports.salesforce,
                         graph_port=ports.graph, identity_port=ports.identity)
        except OSError as e:  # a race with another program between the check and the bind
            raise PortInUse(f"could not bind the sandbox ports: {e.strerror or e}") from e
        sb.start()
        try:
            if demo_records:
                sb.seed_demo(records_per_object=demo_records, seed=seed)
            state = {
                "pid": os.getpid(),
                "urls": {"salesforce": sb.salesforce_url, "graph": sb.graph_url,
                         "identity": sb.identity_url},
                "ca_bundle": sb.ca_bundle,
                "env": sb.env(),
                "data_dir": str(Path(data_dir).resolve()) if data_dir else None,
                "seed": seed,
                "started_at": time.time(),
            }
            write_state(state_file, state)
            echo(f"calsync sandbox ready in {time.monotonic() - t0:.2f} s (pid {os.getpid()})")
            echo(f"  salesforce  {sb.salesforce_url}")
            echo(f"  graph       {sb.graph_url}/v1.0")
            echo(f"  identity    {sb.identity_url}")
            echo(f"  CA bundle   {sb.ca_bundle}")
            echo(f"  admin API   <url>{ADMIN_PREFIX}/info on every server")
            echo('point clients at it with: eval "$(calsync sandbox env)"')
            while not stop.wait(0.5):
                pass
            echo("calsync sandbox stopping")
        finally:
            _remove_own_state(state_file)
            sb.stop()  # saves the snapshot when there is a data folder
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return 0


def _remove_own_state(state_file: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        if json.loads(state_file.read_text()).get("pid") == os.getpid():
            state_file.unlink()


# --- background -------------------------------------------------------------------------------------


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty log)"


def up(ports: Ports = Ports(), data_dir: str | Path | None = None, seed: int = 0, demo_records: int = 0,
       home: str | Path | None = None, fresh: bool = False, timeout: float = 60.0) -> dict[str, Any]:
    """Start ``python -m sandbox run`` detached and return its state once every server answers."""
    home_dir = sandbox_home(home)
    home_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(home_dir / ".lock"):
        return _up_locked(home_dir, ports, data_dir, seed, demo_records, fresh, timeout)


@contextlib.contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    """Two `up` at once in one state folder: the second waits, then finds the first running."""
    import fcntl

    with open(lock_file, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _up_locked(home_dir: Path, ports: Ports, data_dir: str | Path | None, seed: int, demo_records: int,
               fresh: bool, timeout: float) -> dict[str, Any]:
    current = running_state(home_dir)
    if current is not None:
        raise SandboxAlreadyRunning(
            f"a sandbox is already running (pid {current['pid']}, "
            f"Salesforce {current['urls']['salesforce']}); "
            "stop it with `calsync sandbox down` first")
    check_ports_free(ports)  # fail here, with the port named, rather than in the log
    state_file, log_file = home_dir / STATE_FILE, home_dir / LOG_FILE
    cmd = [sys.executable, "-m", "sandbox", "run", "--state-file", str(state_file), "--seed", str(seed),
           "--demo-records", str(demo_records)]
    for name, port in ports.items():
        cmd += [PORT_FLAGS[name], str(port)]
    if data_dir:
        cmd += ["--data-dir", str(Path(data_dir).resolve())]
    if fresh:
        cmd.append("--fresh")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log_file, "wb") as log:
        # Own session: the sandbox survives the shell that started it and gets no terminal signals.
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=env)
    deadline = time.monotonic() + timeout
    last_error = "no state file yet"
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise SandboxError(f"the sandbox exited with code {code} before it was ready; "
                               f"log {log_file}:\n{_tail(log_file)}")
        state = read_state(home_dir)
        if state and state.get("pid") == proc.pid:
            try:
                check_servers(state, timeout=2.0)
                return state
            except SandboxError as e:
                last_error = str(e)
        time.sleep(0.1)
    _terminate(proc.pid, grace=5.0)
    raise SandboxError(f"the sandbox was not ready after {timeout:.0f} s ({last_error}); "
                       f"log {log_file}:\n{_tail(log_file)}")


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        # The sandbox leads its own process group; signal the group so nothing it started lingers.
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def _terminate(pid: int, grace: float) -> str:
    """SIGTERM (the sandbox saves its data), then SIGKILL after ``grace`` seconds."""
    if not pid_alive(pid):
        return "gone"
    _signal(pid, signal.SIGTERM)
    if _wait_gone(pid, grace):
        return "stopped"
    _signal(pid, signal.SIGKILL)
    if _wait_gone(pid, 5.0):
        return "killed"
    raise SandboxError(f"the sandbox (pid {pid}) did not exit after SIGKILL")


def down(home: str | Path | None = None, grace: float = 10.0) -> dict[str, Any] | None:
    """Stop the running sandbox; returns its last state, or None when none was running."""
    state = running_state(home)
    if state is None:
        return None
    how = _terminate(int(state["pid"]), grace)
    with contextlib.suppress(FileNotFoundError):
        state_path(home).unlink()
    return dict(state, stopped=how)


def env(home: str | Path | None = None) -> dict[str, str]:
    """The exports that point Airflow's hooks (and calsync) at the running sandbox."""
    return dict(require_running(home)["env"])


def status(home: str | Path | None = None) -> dict[str, Any]:
    state = running_state(home)
    if state is None:
        return {"running": False, "home": str(sandbox_home(home))}
    try:
        check_servers(state, timeout=5.0)
        healthy, problem = True, None
    except SandboxError as e:
        healthy, problem = False, str(e)
    return {"running": True, "healthy": healthy, "problem": problem, "pid": state["pid"],
            "urls": state["urls"], "ca_bundle": state["ca_bundle"], "data_dir": state.get("data_dir"),
            "uptime_s": round(time.time() - float(state.get("started_at", time.time())), 1),
            "home": str(sandbox_home(home)), "log": str(log_path(home))}


def admin(method: str, path: str, body: dict[str, Any] | None = None, home: str | Path | None = None,
          timeout: float = 300.0) -> Any:
    """Call the admin API of the running sandbox (through its Graph server: plain HTTP, shared admin)."""
    state = require_running(home)
    return admin_request(state["urls"]["graph"], method, path, body, timeout=timeout)


def seed(records_per_object: int = 200, seed: int = 0, home: str | Path | None = None) -> Any:
    return admin("POST", "seed", {"records_per_object": records_per_object, "seed": seed}, home)
