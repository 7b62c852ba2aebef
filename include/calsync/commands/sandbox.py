"""``calsync sandbox up|down|env|status|seed|run``: the local emulators, through sandbox.control."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from calsync.commands import CommandError

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def _sandbox_errors() -> Iterator[None]:
    from sandbox.control import SandboxError

    try:
        yield
    except SandboxError as e:
        # The log tail (if any) follows the first line; the first line alone must say what happened.
        first, _, rest = str(e).partition("\n")
        if rest:
            click.echo(rest, err=True)
        raise CommandError(first) from e


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _port_options(func: F) -> F:
    from sandbox.control import DEFAULT_PORTS

    port = click.IntRange(0, 65535)
    for name, flag, what in reversed([
        ("salesforce", "--salesforce-port", "Salesforce emulator (TLS)"),
        ("graph", "--graph-port", "Graph emulator (http)"),
        ("identity", "--identity-port", "Entra-style token endpoint (TLS)"),
    ]):
        func = click.option(flag, type=port, default=DEFAULT_PORTS[name], show_default=True,
                            help=f"Port of the {what}; 0 picks a free one.")(func)
    return func


def _common_run_options(func: F) -> F:
    opts = [
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Seed of the fault plan and of the demo data."),
        click.option("--demo-records", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Seed N demo records per object once started."),
        click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                     help="Folder that keeps the sandbox data across restarts "
                          "[default: <state folder>/data]."),
        click.option("--ephemeral", is_flag=True,
                     help="Keep nothing: no data folder, a new CA path each time."),
        click.option("--fresh", is_flag=True,
                     help="Start empty, ignoring the data saved in the data folder."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return _port_options(func)


def _data_dir(data_dir: Path | None, ephemeral: bool) -> Path | None:
    from sandbox.control import DATA_DIR, sandbox_home

    if ephemeral:
        if data_dir:
            raise click.UsageError("--data-dir and --ephemeral exclude each other")
        return None
    return data_dir or sandbox_home() / DATA_DIR


def _print_urls(state: dict[str, Any], title: str) -> None:
    from rich.table import Table

    table = Table(title=title, show_header=False, box=None, title_justify="left")
    urls = state["urls"]
    table.add_row("Salesforce", urls["salesforce"])
    table.add_row("Graph", f"{urls['graph']}/v1.0")
    table.add_row("Token endpoint", urls["identity"])
    table.add_row("CA bundle", state["ca_bundle"])
    if state.get("data_dir"):
        table.add_row("Data folder", state["data_dir"])
    console = _console()
    console.print(table)
    console.print('Point Airflow and calsync at it: eval "$(calsync sandbox env)"')


@click.group()
def sandbox() -> None:
    """Run the local Salesforce and Graph emulators (see docs/sandbox.md).

    State lives in $CALSYNC_SANDBOX_HOME (default: .sandbox/ in the current folder).
    """


@sandbox.command()
@_common_run_options
@click.option("--timeout", type=click.FloatRange(min=1), default=60, show_default=True,
              help="Seconds to wait for the servers to answer.")
def up(salesforce_port: int, graph_port: int, identity_port: int, seed: int, demo_records: int,
       data_dir: Path | None, ephemeral: bool, fresh: bool, timeout: float) -> None:
    """Start the sandbox in the background and wait until it answers."""
    from sandbox import control

    with _sandbox_errors():
        state = control.up(control.Ports(salesforce_port, graph_port, identity_port),
                           data_dir=_data_dir(data_dir, ephemeral), seed=seed, demo_records=demo_records,
                           fresh=fresh, timeout=timeout)
    _print_urls(state, f"calsync sandbox running (pid {state['pid']}, log {control.log_path()})")


@sandbox.command()
@click.option("--grace", type=click.FloatRange(min=0), default=10, show_default=True,
              help="Seconds to wait after SIGTERM before SIGKILL.")
def down(grace: float) -> None:
    """Stop the background sandbox (it saves its data first)."""
    from sandbox import control

    with _sandbox_errors():
        state = control.down(grace=grace)
    if state is None:
        click.echo(f"no sandbox running under {control.sandbox_home()}")
    else:
        click.echo(f"sandbox (pid {state['pid']}) {state['stopped']}")


def _sh_quote(value: str) -> str:
    # Always single quotes, so the output reads the same whatever the value holds.
    return "'" + value.replace("'", "'\"'\"'") + "'"


@sandbox.command()
def env() -> None:
    """Print the exports for the running sandbox: eval "$(calsync sandbox env)".

    They set AIRFLOW_CONN_SALESFORCE_DEFAULT, AIRFLOW_CONN_MSGRAPH_DEFAULT (with the sandbox's demo
    credentials: that is how Airflow reads connections), REQUESTS_CA_BUNDLE and CALSYNC_SANDBOX_*.
    """
    from sandbox import control

    with _sandbox_errors():
        exports = control.env()
    # Plain writes, not rich: a wrapped or styled line would break eval.
    for name in sorted(exports):
        click.echo(f"export {name}={_sh_quote(exports[name])}")


@sandbox.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(as_json: bool) -> None:
    """Show whether the sandbox runs and answers; exits 1 when it does not."""
    from sandbox import control

    with _sandbox_errors():
        info = control.status()
    if as_json:
        click.echo(json.dumps(info, indent=2, sort_keys=True))
    elif not info["running"]:
        click.echo(f"no sandbox running under {info['home']}")
    else:
        health = "answering" if info["healthy"] else f"NOT answering: {info['problem']}"
        _print_urls(info, f"calsync sandbox pid {info['pid']}, up {info['uptime_s']:.0f} s, {health}")
    if not info["running"] or not info.get("healthy"):
        raise click.exceptions.Exit(1)


@sandbox.command()
@click.option("--records-per-object", type=click.IntRange(min=0), default=200, show_default=True,
              help="How many demo records of each object to create.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generated data.")
def seed(records_per_object: int, seed: int) -> None:
    """Fill the running sandbox with demo records and mailboxes (POST /__sandbox__/seed)."""
    from sandbox import control

    with _sandbox_errors():
        result = control.seed(records_per_object=records_per_object, seed=seed)
    _console().print_json(data=result)


@sandbox.command()
@_common_run_options
def run(salesforce_port: int, graph_port: int, identity_port: int, seed: int, demo_records: int,
        data_dir: Path | None, ephemeral: bool, fresh: bool) -> None:
    """Run the sandbox in the foreground until Ctrl-C (what `up` runs in the background)."""
    from sandbox import control

    with _sandbox_errors():
        control.run_foreground(control.Ports(salesforce_port, graph_port, identity_port),
                               data_dir=_data_dir(data_dir, ephemeral), seed=seed,
                               demo_records=demo_records, fresh=fresh, echo=click.echo)
