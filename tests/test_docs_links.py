"""The README and docs/ stay navigable: every relative link reaches a file (and, with an
anchor, a heading of it), the README stays short, and `make loadtest` has its target."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 200
# Pages another branch is writing: links to them may dangle until it lands. Remove a
# page from here once it exists (test_pending_pages_are_still_missing says when).
PENDING: set[Path] = set()
LOADTEST_MARKERS = ("<!-- loadtest-results:begin -->", "<!-- loadtest-results:end -->")

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"`[^`]*`")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def pages() -> list[Path]:
    folders = sorted(path for path in ROOT.glob("*/README.md") if path.parent.name[0] != ".")
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *folders]


def prose_lines(path: Path) -> list[str]:
    """The page's lines outside fenced code blocks (links and headings there are text)."""
    lines, fenced = [], False
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def relative_links(path: Path) -> list[str]:
    targets = []
    for line in prose_lines(path):
        targets += LINK.findall(INLINE_CODE.sub("", line))
    return [target for target in targets if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    counts: dict[str, int] = {}
    for line in prose_lines(path):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = counts.get(base, 0)
            counts[base] = count + 1
            found.add(f"{base}-{count}" if count else base)  # GitHub numbers repeats
    return found


def split(page: Path, target: str) -> tuple[Path, str]:
    file_part, _, anchor = target.partition("#")
    return (page.parent / file_part).resolve() if file_part else page, anchor


def test_every_relative_link_points_at_an_existing_file() -> None:
    broken = [
        f"{page.relative_to(ROOT)}: {target}"
        for page in pages()
        for target in relative_links(page)
        if not split(page, target)[0].exists() and split(page, target)[0] not in PENDING
    ]
    assert broken == [], "links to files that do not exist:\n" + "\n".join(broken)


def test_every_anchor_names_a_heading_of_its_page() -> None:
    broken = []
    for page in pages():
        for target in relative_links(page):
            path, anchor = split(page, target)
            if not anchor or path in PENDING:
                continue
            if path.suffix != ".md" or anchor not in anchors(path):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == [], "links to headings that do not exist:\n" + "\n".join(broken)


def test_links_are_checked_in_readme_and_every_doc() -> None:
    # The checks above see the pages they should, and the pages link to each other.
    names = {str(page.relative_to(ROOT)) for page in pages()}
    assert {"README.md", "docs/api.md", "docs/operations.md"} <= names
    assert any(target.startswith("docs/") for target in relative_links(ROOT / "README.md"))


def test_readme_is_at_most_200_lines() -> None:
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines; keep it at most {README_MAX_LINES} and move "
        "details into docs/"
    )


def test_loadtest_markers_are_in_docs_load_tests_only() -> None:
    # `make loadtest` (locust/loadtest.py --write-docs) rewrites what is between them.
    page = (ROOT / "docs" / "load-tests.md").read_text()
    assert [page.count(marker) for marker in LOADTEST_MARKERS] == [1, 1]
    assert page.index(LOADTEST_MARKERS[0]) < page.index(LOADTEST_MARKERS[1])
    readme = (ROOT / "README.md").read_text()
    assert not any(marker in readme for marker in LOADTEST_MARKERS)


def test_pending_pages_are_still_missing() -> None:
    landed = sorted(str(path.relative_to(ROOT)) for path in PENDING if path.exists())
    assert landed == [], f"{landed} exist now: remove them from PENDING so their links are checked"
