"""The repository stands alone: its docs name only files that exist in it, and no text points outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOP = ("harness/", "tests/", "deploy/", "scripts/", "policies/", "security/", "app/", ".ci/")
DOCS = ("README.md", "ARCHITECTURE.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md")))
LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    files = [ROOT / line for line in out.splitlines()]
    return [f for f in files if f.is_file() and f.suffix in {".py", ".md", ".toml", ".ini", ".yml", ".yaml", ".sh", ""}]


def doc_paths(text: str) -> list[str]:
    """Backticked repository paths (`harness/policy.toml`, `tests/e2e/`), without placeholders or globs."""
    found = []
    for token in re.findall(r"`([^`\s]+)`", text):
        token = token.split("::")[0].rstrip("/.,")
        if token.startswith(TOP) and not re.search(r"[<>*|{}]|\.\.\.", token):
            found.append(token)
    return found


@pytest.mark.parametrize("doc", DOCS)
def test_every_repository_path_a_doc_names_exists(doc):
    missing = [p for p in doc_paths((ROOT / doc).read_text()) if not (ROOT / p).exists()]
    assert not missing, f"{doc} names files that are not in the repository: {missing}"


def test_no_text_points_outside_the_repository():
    """A relative path in any tracked text (`../x/y`) must resolve inside the repository: the repository
    stands alone, and a fact it needs is copied in, not pointed at."""
    relative = re.compile(r"(?<![\w.])((?:\.\./)+[\w.-][\w./-]*)")
    hits = [
        f"{f.relative_to(ROOT)}:{n}: {path}"
        for f in tracked_text_files()
        for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1)
        for path in relative.findall(line)
        if not (f.parent / path).resolve().is_relative_to(ROOT)
    ]
    assert not hits, f"text that points outside the repository: {hits}"


def anchors(path: Path) -> set[str]:
    """The anchors GitHub makes for a Markdown file's headings (lower case, punctuation dropped, spaces -> -)."""
    out = set()
    for line in path.read_text().splitlines():
        m = re.match(r"^#{1,6} (.*)$", line)
        if m:
            out.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return out


@pytest.mark.parametrize("doc", DOCS)
def test_every_link_of_the_docs_resolves(doc):
    """Every relative link in README and docs/ names a file of the repository, and its #anchor a heading."""
    here = ROOT / doc
    broken = []
    for label, target in LINK.findall(here.read_text()):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (here.parent / path).resolve() if path else here
        if not dest.exists() or not dest.is_relative_to(ROOT):
            broken.append(f"[{label}]({target}): no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"[{label}]({target}): no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{doc}: " + "; ".join(broken)


def test_the_readme_is_read_in_five_minutes():
    assert len((ROOT / "README.md").read_text().splitlines()) < 200
