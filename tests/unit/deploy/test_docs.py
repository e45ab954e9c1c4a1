"""The README is a front door and the pages behind it stay true to the code.

README.md: at most 12 KB, the two commands first, a "where things live" table. README and docs/*.md:
every file they name (`services/…`, `rules/…`, `deploy/…`, …) exists, every relative link and anchor
resolves, every metric name is one the code exports, and docs/events.md lists every topic with its
partition count. A module that moves fails here until the page that names it follows.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.common.settings import PROJECT_ROOT
from services.common.topics import ALL_TOPICS

README = PROJECT_ROOT / "README.md"
DOCS = sorted((PROJECT_ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
LINK = re.compile(r"\]\(([^)#\s]*)(?:#[^)]*)?\)|(?:src|href)=\"([^\"#]+)")
ANCHORED = re.compile(r"\]\(([^)#\s]*\.md|)#([^)]+)\)|href=\"([^\"#]*\.md)#([^\"]+)\"")
METRIC = re.compile(r"\bxf_[a-z_]+[a-z]\b")


def where_things_live(readme: str) -> str:
    start = readme.index("## Where things live")
    end = readme.index("\n## ", start + 1)
    return readme[start:end]


def test_the_readme_is_at_most_12_kb() -> None:
    assert len(README.read_bytes()) <= 12 * 1024


def test_the_readme_starts_with_the_two_commands() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert [b.strip() for b in blocks[:2]] == ["scripts/run", "scripts/test"]


# Paths in the repository; in the README's table also files at its root (a stack folder's files are not).
PATH = re.compile(r"`((?:services|rules|deploy|bench|tests|scripts|docs)/[^`\s]*)`")
ROOT_OR_PATH = re.compile(PATH.pattern + r"|`([A-Za-z-]+\.(?:yml|md)|Dockerfile)`")


def missing_files(text: str, pattern: re.Pattern[str] = PATH) -> list[str]:
    named = ["".join(groups) if isinstance(groups, tuple) else groups for groups in pattern.findall(text)]
    return [path for path in named if not list(PROJECT_ROOT.glob(path.replace("<area>", "*")))]


def test_every_file_the_readme_points_to_exists() -> None:
    table = where_things_live(README.read_text(encoding="utf-8"))
    assert len(ROOT_OR_PATH.findall(table)) > 20
    assert missing_files(table, ROOT_OR_PATH) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_file_a_page_names_exists(page: Path) -> None:
    assert missing_files(page.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    targets = [a or b for a, b in LINK.findall(text)]
    broken = [t for t in targets if t and "://" not in t and not (page.parent / t).exists()]
    assert broken == []


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_anchor_names_a_heading(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    broken = []
    for match in ANCHORED.finditer(text):
        target, anchor = (match[1], match[2]) if match[2] else (match[3], match[4])
        linked = (page.parent / target) if target else page
        headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), flags=re.M)
        if anchor not in {slug(h) for h in headings}:
            broken.append(f"{target}#{anchor}")
    assert broken == []


def test_every_metric_in_the_docs_is_exported_by_the_code() -> None:
    code = "\n".join(p.read_text(encoding="utf-8") for p in (PROJECT_ROOT / "services").rglob("*.py"))
    named = {m for page in PAGES for m in METRIC.findall(page.read_text(encoding="utf-8"))}
    assert len(named) > 50

    def exported(name: str) -> bool:
        bases = {name, name.removesuffix("_total"), name.removesuffix("_info")}
        return any(f'"{base}"' in code for base in bases)

    assert sorted(n for n in named if not exported(n)) == []


def test_the_event_catalogue_lists_every_topic_with_its_partitions() -> None:
    catalogue = (PROJECT_ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    for topic in ALL_TOPICS:
        assert f"| `{topic.name}` | {topic.partitions} |" in catalogue, topic.name
