"""The public contract lives in docs/CONTRACT.md, and everything that cites it points there.

Code and docstrings may say "CONTRACT §N" (README.md and docs/ say where it lives); markdown
docs link it as ``[CONTRACT.md](CONTRACT.md) §N``. Every cited section must exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "docs" / "CONTRACT.md"
#: Where the contract is maintained, beside the repository when this checkout has it.
SOURCE = ROOT.parent / "shared" / "spec" / "CONTRACT.md"

SOURCE_DIRS = ("libs", "services", "tools", "tests", "bench", "infra", "web/src", "web/e2e", "docs")
SUFFIXES = {".py", ".ts", ".tsx", ".mjs", ".md", ".yaml", ".yml", ".conf", ".toml"}
SKIP_PARTS = {"node_modules", "dist", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache"}

#: "CONTRACT §3", "CONTRACT.md §2–§4", "[CONTRACT.md](CONTRACT.md) §1 and §3": the sections cited.
CITATION = re.compile(
    r"CONTRACT(?:\.md\]\([^)]*CONTRACT\.md\)|\.md`?)?\s*(§\d+(?:\s*(?:–|-|and|,)\s*§\d+)*)"
)
#: A markdown link to the contract, and the way README names the citation style itself.
LINK = re.compile(r"\[[^\]]*\]\((?:docs/)?CONTRACT\.md(?:#[^)]*)?\)|\"CONTRACT §N\"")


def _files() -> Iterator[Path]:
    yield ROOT / "README.md"
    yield ROOT / "CHANGELOG.md"
    for top in SOURCE_DIRS:
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in SUFFIXES and path.is_file() and not SKIP_PARTS & set(path.parts):
                if path != CONTRACT:
                    yield path


def _sections() -> set[int]:
    return {int(m) for m in re.findall(r"^## (\d+)\. ", CONTRACT.read_text(), flags=re.MULTILINE)}


def test_docs_contract_is_the_maintained_copy() -> None:
    if not SOURCE.exists():
        pytest.skip(
            f"{SOURCE} is not beside this checkout: nothing to compare docs/CONTRACT.md with"
        )
    assert CONTRACT.read_text() == SOURCE.read_text(), (
        f"docs/CONTRACT.md differs from {SOURCE}: copy the maintained contract into docs/"
    )


def test_every_cited_section_exists() -> None:
    sections = _sections()
    assert sections == {1, 2, 3, 4, 5, 6}, sections
    cited = 0
    for path in _files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for match in CITATION.finditer(line):
                for section in re.findall(r"§(\d+)", match.group(1)):
                    cited += 1
                    where = f"{path.relative_to(ROOT)}:{number}"
                    assert int(section) in sections, (
                        f"{where} cites CONTRACT §{section}: no such section"
                    )
    assert cited > 20, "the citation pattern no longer finds the code's CONTRACT §N references"


def test_markdown_docs_link_the_contract() -> None:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    unlinked = []
    for path in docs:
        if path == CONTRACT:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "CONTRACT" in LINK.sub("", line):
                unlinked.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not unlinked, "link the contract as [CONTRACT.md](CONTRACT.md) §N:\n" + "\n".join(
        unlinked
    )


def test_readme_says_where_the_contract_lives() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "[docs/CONTRACT.md](docs/CONTRACT.md)" in readme
    assert "CONTRACT §N" in readme
