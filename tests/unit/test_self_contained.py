"""The repository stands alone: no file refers to a path outside it, every relative link in its
Markdown resolves to a file inside it, and every document the code cites by name exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve()
#: Paths outside the checkout: a sibling directory reached with ``..``, or an absolute path
#: under the machine's work directory (``/work/…``), where no reader of the repository has it.
OUTSIDE = re.compile(r"\.\./shared\b|(?<![\w.~-])/work/")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
CITED_DOCUMENT = re.compile(r"\b([A-Z][A-Z0-9-]*\.md|OCPP-NOTES)\b")


def repository_files() -> list[Path]:
    """The files git would commit (tracked or new, not ignored) that exist in the work tree."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"],
            capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


def _text(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def test_no_file_refers_to_a_path_outside_the_repository() -> None:
    found = []
    for path in repository_files():
        if path.resolve() == THIS:
            continue
        text = _text(path)
        for number, line in enumerate((text or "").splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not found, "\n".join(found)


def test_every_relative_markdown_link_is_a_file_in_the_repository() -> None:
    broken = []
    for path in repository_files():
        if path.suffix != ".md":
            continue
        for target in MARKDOWN_LINK.findall(path.read_text()):
            if re.match(r"[a-z][a-z0-9+.-]*:|#", target):  # a URL or an anchor on the page
                continue
            resolved = (path.parent / target.split("#", 1)[0]).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)}: ({target})")
    assert not broken, "\n".join(broken)


def test_every_document_the_code_cites_exists() -> None:
    files = repository_files()
    names = {path.name for path in files} | {path.stem for path in files if path.suffix == ".md"}
    missing = set()
    for path in files:
        if path.suffix != ".py" or path.resolve() == THIS:
            continue
        for cited in CITED_DOCUMENT.findall(path.read_text()):
            if cited not in names:
                missing.add(f"{path.relative_to(ROOT)}: {cited}")
    assert not missing, "\n".join(sorted(missing))
