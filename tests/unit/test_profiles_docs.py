"""docs/profiles.md documents every key of the profile model (like sqlite-utils' test_docs)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from calsync.profiles import Profile, load_profiles

DOC = Path(__file__).resolve().parents[2] / "docs" / "profiles.md"


def model_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key a user can write, dotted for nested sections (window.past_days)."""
    keys: list[str] = []
    for name, info in model.model_fields.items():
        keys.append(prefix + name)
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys += model_keys(ann, f"{prefix}{name}.")
    return keys


def test_every_model_key_is_documented() -> None:
    # No SPEC rule: STYLE 'test_docs' (every key in docs/profiles.md).
    text = DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"`([a-z_]+(?:\.[a-z_]+)*)`", text))
    missing = [k for k in model_keys(Profile) if k not in documented]
    assert not missing, f"docs/profiles.md lacks: {', '.join(missing)}"


def test_model_keys_walk_nested_sections() -> None:
    # No SPEC rule: guards the docs test.
    # Guards the guard: the walk must see nested keys, or the test above would pass on nothing.
    keys = model_keys(Profile)
    assert "window.future_days" in keys and "field_map.subject" in keys and "id" in keys


def test_doc_examples_are_valid_profiles(tmp_path: Path) -> None:
    # R-M7, R-X4: the documented examples are valid profiles.
    # Every ```yaml block that is a profile entry ("- id: ...") loads.
    text = DOC.read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if b.lstrip().startswith("- id:")]
    assert blocks
    for block in blocks:
        path = tmp_path / "p.yaml"
        path.write_text(
            "profiles:\n" + "".join(f"  {line}\n" for line in block.splitlines()), encoding="utf-8"
        )
        assert len(load_profiles(path)) == 1
