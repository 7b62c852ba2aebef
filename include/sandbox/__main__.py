"""``python -m sandbox run``: the sandbox in the foreground (what ``calsync sandbox up`` detaches).

Kept on argparse so the sandbox package needs nothing from calsync's CLI.
"""

from __future__ import annotations

import argparse
import sys

from sandbox.control import Ports, SandboxError, run_foreground


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (0-65535; 0 = any free port)")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="calsync's local emulators")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve the sandbox in the foreground until Ctrl-C or SIGTERM")
    run.add_argument("--data-dir", help="folder that keeps the sandbox data across restarts")
    run.add_argument("--salesforce-port", type=_port, default=0, help="Salesforce (TLS) port; 0 = any")
    run.add_argument("--graph-port", type=_port, default=0, help="Graph (http) port; 0 = any")
    run.add_argument("--identity-port", type=_port, default=0, help="token endpoint (TLS) port; 0 = any")
    run.add_argument("--seed", type=int, default=0, help="seed of the fault plan and the demo data")
    run.add_argument("--demo-records", type=_count, default=0, help="seed N demo records per object")
    run.add_argument("--state-file", help="where to announce the running sandbox (JSON)")
    run.add_argument("--fresh", action="store_true", help="ignore the data saved in --data-dir")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ports = Ports(args.salesforce_port, args.graph_port, args.identity_port)
    try:
        return run_foreground(ports, data_dir=args.data_dir, seed=args.seed, demo_records=args.demo_records,
                              state_file=args.state_file, fresh=args.fresh,
                              echo=lambda line: print(line, flush=True))
    except SandboxError as e:
        print(f"sandbox: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
