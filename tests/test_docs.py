"""The documents a newcomer reads: a short README, links that work, and a module map that names every part."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: [text](target) outside code; images too. Targets with a scheme are left alone.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```.*?```", re.S)


def anchors(markdown: str) -> set[str]:
    """The heading anchors a Markdown renderer makes (GitHub's rule: lower case, punctuation dropped, spaces to -)."""
    found = set()
    for line in FENCE.sub("", markdown).splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def links(document: Path) -> list[str]:
    """Every link target in a document, code blocks left out."""
    return LINK.findall(FENCE.sub("", document.read_text(encoding="utf-8")))


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_and_anchor_resolves(document):
    broken = []
    for target in links(document):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto: not checked offline
        path, _, anchor = target.partition("#")
        resolved = (document.parent / path).resolve() if path else document
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, f"{document.name}: {broken}"


def test_anchor_rule_matches_github():
    assert anchors("## Background jobs (`app/jobs/`)\n### `engine/`: the training core") == {
        "background-jobs-appjobs", "engine-the-training-core"}


def test_the_readme_is_short_and_points_into_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode("utf-8")) <= 12 * 1024
    for needed in ("make run", "make test", "make check", "hyperquest pool prepare", "docs/architecture.md"):
        assert needed in readme, needed
    assert not re.search(r"PREPARE_|_FIGURES", readme), "a placeholder was left in the README"


def test_no_placeholder_is_left_in_the_docs():
    for document in DOCUMENTS:
        assert not re.search(r"\b[A-Z]+_(FIGURES|PLAYABLE|ALL)\b", document.read_text(encoding="utf-8")), document.name


def test_the_module_map_names_every_app_folder_engine_module_and_worker_module():
    architecture = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    module_map = architecture.split("## Module map", 1)[1].split("\n## ", 1)[0]
    parts = [f"`app/{p.name}/`" for p in (ROOT / "app").iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    parts += [f"`engine/{p.name}`" for p in (ROOT / "engine").glob("*.py") if p.name != "__init__.py"]
    parts += ["`engine/datasets/`"]
    parts += [f"`worker/{p.name}`" for p in (ROOT / "worker").glob("*.py") if p.name != "__init__.py"]
    missing = [part for part in parts if part not in module_map]
    assert not missing, f"not in docs/architecture.md's module map: {missing}"
