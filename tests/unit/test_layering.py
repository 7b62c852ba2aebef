"""The engine's layers, enforced by reading the source with ``ast`` (nothing is imported).

* ``frame``, ``transform``, ``plan`` and ``report`` stay pure: no SDK, database or Airflow module,
  neither directly nor through another calsync module they import at module level (DESIGN "Layout").
* Only ``calsync/airflow_glue.py`` imports Airflow (STYLE example 10).
* DAG files import, at top level, only the Airflow SDK, ``calsync.airflow_glue``, pendulum and the
  standard library (STYLE C1: the DAG processor re-runs that code on every parse).

The scanner is tested on synthetic sources too, so this file cannot pass by finding nothing.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "include" / "calsync"
DAGS = ROOT / "dags"

PURE_MODULES = ("frame", "transform", "plan", "report")
FORBIDDEN_IN_PURE = ("airflow", "simple_salesforce", "msgraph", "msgraph_core", "kiota", "azure",
                     "sqlalchemy", "requests", "httpx", "psycopg", "psycopg2", "alembic",
                     "great_expectations")
AIRFLOW_MODULE = "airflow_glue"
DAG_ALLOWED = ("airflow.sdk", "airflow.providers.standard", "calsync.airflow_glue", "pendulum", "datetime",
               "__future__")


@dataclass(frozen=True)
class Import:
    module: str  # absolute dotted name ("calsync.state", "sqlalchemy.orm")
    line: int
    top_level: bool  # runs when the module is imported (not inside a def, not under TYPE_CHECKING)
    type_only: bool = False  # under `if TYPE_CHECKING:`: never runs


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(node: ast.ImportFrom, package: str) -> list[str]:
    """Absolute names of what ``from X import a, b`` loads (X.a when a may be a submodule)."""
    if node.level:
        parts = package.split(".")
        base = ".".join(parts[: len(parts) - node.level + 1])
        prefix = f"{base}.{node.module}" if node.module else base
    else:
        prefix = node.module or ""
    return [f"{prefix}.{a.name}" if a.name != "*" else prefix for a in node.names] or [prefix]


def scan(source: str, package: str = "calsync") -> list[Import]:
    """Every import in ``source``; ``package`` resolves relative imports."""
    found: list[Import] = []

    def visit(node: ast.AST, top: bool, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend(Import(a.name, child.lineno, top, typing_only) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                found.extend(Import(m, child.lineno, top, typing_only) for m in _resolve(child, package))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, False, typing_only)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    visit(ast.Module(body=[stmt], type_ignores=[]), False, True)
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]), top, typing_only)
            else:
                visit(child, top, typing_only)

    visit(ast.parse(source), True, False)
    return found


def _matches(module: str, roots: tuple[str, ...]) -> bool:
    for root in roots:
        if root == "kiota":  # microsoft-kiota-* installs kiota_abstractions, kiota_http, ...
            if module.split(".")[0].startswith("kiota"):
                return True
        elif module == root or module.startswith(root + "."):
            return True
    return False


def _module_file(name: str, package_dir: Path = PACKAGE) -> Path | None:
    """The file of calsync module ``name`` (``calsync.x.y``), or None when it is not calsync's."""
    parts = name.split(".")
    if parts[0] != package_dir.name:
        return None
    base = package_dir.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_of(path: Path, package_dir: Path = PACKAGE) -> str:
    rel = path.relative_to(package_dir.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
        return ".".join(parts)
    return ".".join(parts[:-1])


def pure_violations(path: Path, package_dir: Path = PACKAGE) -> list[str]:
    """Forbidden imports of a pure module: its own (anywhere), and those of calsync modules it loads."""
    out: list[str] = []
    seen: set[Path] = set()

    def walk(file: Path, chain: str, only_top: bool) -> None:
        if file in seen:
            return
        seen.add(file)
        for imp in scan(file.read_text(), _package_of(file, package_dir)):
            if imp.type_only or (only_top and not imp.top_level):
                continue
            where = f"{chain}:{imp.line}"
            if _matches(imp.module, FORBIDDEN_IN_PURE):
                out.append(f"{where} imports {imp.module}")
            elif imp.top_level:
                # Only imports that run at import time drag another module's imports in.
                target = _module_file(imp.module, package_dir) or _module_file(
                    imp.module.rsplit(".", 1)[0], package_dir)
                if target is not None and target != file:
                    walk(target, f"{where} -> {target.relative_to(package_dir.parent)}", True)

    walk(path, str(path.relative_to(package_dir.parent)), False)
    return out


def airflow_violations(path: Path, package_dir: Path = PACKAGE) -> list[str]:
    if path.name == f"{AIRFLOW_MODULE}.py" and path.parent == package_dir:
        return []
    return [f"{path.relative_to(package_dir.parent)}:{imp.line} imports {imp.module}"
            for imp in scan(path.read_text(), _package_of(path, package_dir))
            if not imp.type_only and _matches(imp.module, ("airflow",))]


def dag_violations(path: Path) -> list[str]:
    out = []
    for imp in scan(path.read_text(), "dags"):
        if not imp.top_level or _matches(imp.module, DAG_ALLOWED):
            continue
        if imp.module.split(".")[0] in sys.stdlib_module_names:
            continue
        out.append(f"{path.name}:{imp.line} imports {imp.module} at top level")
    return out


# --- the real tree ----------------------------------------------------------------------------------


def test_pure_modules_import_no_sdk_database_or_airflow() -> None:
    present = [PACKAGE / f"{m}.py" for m in PURE_MODULES if (PACKAGE / f"{m}.py").exists()]
    problems = [v for path in present for v in pure_violations(path)]
    assert not problems, "pure modules must stay pure:\n" + "\n".join(problems)


def test_only_airflow_glue_imports_airflow() -> None:
    problems = [v for path in sorted(PACKAGE.rglob("*.py")) for v in airflow_violations(path)]
    assert not problems, f"only calsync/{AIRFLOW_MODULE}.py may import airflow:\n" + "\n".join(problems)


def test_dag_files_import_only_the_sdk_and_the_glue_at_top_level() -> None:
    problems = [v for path in sorted(DAGS.glob("*.py")) for v in dag_violations(path)]
    assert not problems, "DAG files: import heavy modules inside tasks:\n" + "\n".join(problems)


# --- the scanner finds what it must -----------------------------------------------------------------


@pytest.fixture
def fake_package(tmp_path: Path) -> Path:
    pkg = tmp_path / "calsync"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "schema.py").write_text("import pandas as pd\n")
    (pkg / "state.py").write_text("from sqlalchemy import select\n")
    (pkg / "lazy.py").write_text("def f():\n    import httpx\n")
    return pkg


@pytest.mark.parametrize(("source", "expected"), [
    ("import simple_salesforce\n", "simple_salesforce"),
    ("from msgraph import GraphServiceClient\n", "msgraph.GraphServiceClient"),
    ("import kiota_http.httpx_request_adapter\n", "kiota_http.httpx_request_adapter"),
    ("def f():\n    import great_expectations as gx\n", "great_expectations"),
    ("from .state import Store\n", "sqlalchemy.select"),  # through calsync.state
    ("from calsync import state\n", "sqlalchemy.select"),
    ("import airflow.sdk\n", "airflow.sdk"),
])
def test_scanner_finds_a_synthetic_violation(fake_package: Path, source: str, expected: str) -> None:
    plan = fake_package / "plan.py"
    plan.write_text(source)
    problems = pure_violations(plan, fake_package)
    assert problems and expected in problems[0], problems


@pytest.mark.parametrize("source", [
    "import pandas as pd\nfrom calsync import schema\nfrom .schema import pd\n",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sqlalchemy import Engine\n",
    "from calsync import lazy\n",  # lazy imports httpx only inside a function
    "import requestsx\nimport httpx_like\n",  # names that merely start like a forbidden one
])
def test_scanner_accepts_pure_code(fake_package: Path, source: str) -> None:
    plan = fake_package / "plan.py"
    plan.write_text(source)
    assert pure_violations(plan, fake_package) == []


def test_scanner_flags_airflow_outside_the_glue(fake_package: Path) -> None:
    (fake_package / "apply.py").write_text("def run():\n    from airflow.sdk import Variable\n")
    (fake_package / "airflow_glue.py").write_text("from airflow.providers.salesforce.hooks import x\n")
    assert airflow_violations(fake_package / "apply.py", fake_package) == [
        "calsync/apply.py:2 imports airflow.sdk.Variable"]
    assert airflow_violations(fake_package / "airflow_glue.py", fake_package) == []


def test_scanner_flags_heavy_top_level_imports_in_dags(tmp_path: Path) -> None:
    dag = tmp_path / "calendar_sync.py"
    dag.write_text(
        "from __future__ import annotations\nimport os\nimport datetime\nimport pendulum\n"
        "from airflow.sdk import dag, task\nfrom calsync import airflow_glue\n"
        "from calsync.airflow_glue import build\n"
        "import pandas as pd\nfrom calsync.plan import plan\nfrom airflow.models import Variable\n"
        "@task\ndef t():\n    import pandas\n    from calsync import apply\n"
    )
    assert dag_violations(dag) == [
        "calendar_sync.py:8 imports pandas at top level",
        "calendar_sync.py:9 imports calsync.plan.plan at top level",
        "calendar_sync.py:10 imports airflow.models.Variable at top level",
    ]
