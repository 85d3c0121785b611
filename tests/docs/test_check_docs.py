"""The docs checker (scripts/checks/docs.py) on small trees with planted faults: each fault must be
reported with its file and line and make the check fail; a clean tree must pass.

    python3 -m pytest -q tests/docs        # what make test-docs runs after checking the repository
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHECKER = Path(__file__).resolve().parents[2] / "scripts" / "checks" / "docs.py"

MAKEFILE = """\
.PHONY: up test
up: ## start
\ttrue
test: up
\ttrue
"""

GUIDE = """\
# Guide

## Start here

Run `make up`, then read [the notes](docs/notes.md#what-it-does) and [below](#start-here).
We make sure nothing breaks; `scripts/start.sh` starts it.

```sh
make test          # make nonsense in a comment is prose
```
"""

NOTES = """\
# Notes

## What it does

![picture](diagrams/flow.png) ([zoom](diagrams/flow.svg))
"""

DIAGRAM = "digraph flow { a -> b }\n"


def check(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECKER), "--root", str(root)],
                          capture_output=True, text=True)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small clean repository: a Makefile, two Markdown files, a script, a rendered diagram."""
    (tmp_path / "Makefile").write_text(MAKEFILE)
    (tmp_path / "README.md").write_text(GUIDE)
    (tmp_path / "docs" / "diagrams").mkdir(parents=True)
    (tmp_path / "docs" / "notes.md").write_text(NOTES)
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "start.sh").write_text("#!/bin/sh\n")
    (tmp_path / "docs" / "diagrams" / "flow.dot").write_text(DIAGRAM)
    render(tmp_path / "docs" / "diagrams")
    return tmp_path


def render(diagrams: Path):
    for kind in (["-Tsvg", "-o", "flow.svg"], ["-Tpng", "-Gdpi=96", "-o", "flow.png"]):
        assert subprocess.run(["dot", *kind, "flow.dot"], cwd=diagrams).returncode == 0


def plant(tree: Path, file: str, text: str):
    path = tree / file
    path.write_text(path.read_text() + text)


def faults_of(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stdout.splitlines()


def test_a_clean_tree_passes(tree: Path):
    result = check(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 faults" in result.stderr


def test_a_link_to_a_missing_file_fails(tree: Path):
    plant(tree, "README.md", "\nSee [the design](docs/design.md).\n")
    assert faults_of(check(tree)) == ["README.md:12: link docs/design.md: docs/design.md does not exist"]


def test_a_link_to_a_missing_heading_fails(tree: Path):
    plant(tree, "docs/notes.md", "\nBack to [the guide](../README.md#stop-here).\n")
    assert faults_of(check(tree)) == [
        "docs/notes.md:7: link ../README.md#stop-here: no heading or anchor #stop-here in README.md"]


def test_an_unknown_make_target_fails_in_a_code_block_and_in_a_code_span(tree: Path):
    plant(tree, "README.md", "\n```sh\nWAITLINE_X=1 make deploy-all PLATFORM=prod\n```\nThen `make clean`.\n")
    assert faults_of(check(tree)) == [
        "README.md:13: `make deploy-all`: no target deploy-all in the Makefile",
        "README.md:15: `make clean`: no target clean in the Makefile"]


def test_links_that_leave_the_repository_fail(tree: Path):
    plant(tree, "docs/notes.md", "\n[mission](../../shared/mission.md), [hosts](/etc/hosts)\n")
    faults = faults_of(check(tree))
    assert "docs/notes.md:7: names ../shared, which is outside the repository" in faults
    assert "docs/notes.md:7: link ../../shared/mission.md leaves the repository" in faults
    assert any("link /etc/hosts is an absolute path" in fault for fault in faults)


def test_a_missing_script_path_fails(tree: Path):
    plant(tree, "README.md", "\nBack up with `scripts/backup.sh prod`; rules in `deploy/rules/*.yml`.\n")
    assert faults_of(check(tree)) == ["README.md:12: deploy/rules/*.yml matches no file",
                                      "README.md:12: scripts/backup.sh does not exist"]


def test_a_diagram_that_does_not_render_fails(tree: Path):
    (tree / "docs" / "diagrams" / "flow.dot").write_text("digraph flow { a -> }\n")
    faults = faults_of(check(tree))
    assert len(faults) == 1 and faults[0].startswith("docs/diagrams/flow.dot:1: dot -Tsvg failed")


def test_a_diagram_changed_without_its_renderings_fails_until_make_docs_renders_it(tree: Path):
    (tree / "docs" / "diagrams" / "flow.dot").write_text("digraph flow { a -> b -> c }\n")
    assert faults_of(check(tree)) == [
        "docs/diagrams/flow.dot:1: flow.png is out of date: run make docs and commit it",
        "docs/diagrams/flow.dot:1: flow.svg is out of date: run make docs and commit it"]
    subprocess.run([sys.executable, str(CHECKER), "--root", str(tree), "--render"], check=True,
                   capture_output=True)
    assert check(tree).returncode == 0


def test_an_svg_or_png_without_its_source_fails(tree: Path):
    shutil.copy(tree / "docs" / "diagrams" / "flow.svg", tree / "docs" / "diagrams" / "old.svg")
    shutil.copy(tree / "docs" / "diagrams" / "flow.png", tree / "docs" / "diagrams" / "old.png")
    assert faults_of(check(tree)) == [
        "docs/diagrams/old.png:1: no old.dot beside it: diagrams are code",
        "docs/diagrams/old.svg:1: no old.dot beside it: diagrams are code"]


def test_a_cited_test_that_its_file_does_not_define_fails(tree: Path):
    (tree / "tests").mkdir()
    (tree / "tests" / "test_up.py").write_text("def test_up_works():\n    pass\n")
    (tree / "tests" / "api_test.cpp").write_text("TEST(Api, TakeWorks) {}\n")
    plant(tree, "README.md", "\n`tests/test_up.py::test_up_works`, `tests/api_test.cpp::Api.TakeWorks`,\n"
                             "`tests/test_up.py::test_down_works`, `tests/api_test.cpp::Api.CallWorks`.\n")
    assert faults_of(check(tree)) == ["README.md:13: tests/api_test.cpp defines no test Api.CallWorks",
                                      "README.md:13: tests/test_up.py defines no test test_down_works"]


def test_a_diagram_that_no_markdown_shows_fails(tree: Path):
    notes = tree / "docs" / "notes.md"
    notes.write_text(notes.read_text().replace("![picture](diagrams/flow.png) ([zoom](diagrams/flow.svg))", "No picture."))
    assert faults_of(check(tree)) == [
        "docs/diagrams/flow.dot:1: no Markdown links flow.svg (the picture that zooms): link it beside the image",
        "docs/diagrams/flow.dot:1: no Markdown shows flow.png: show it as ![...](diagrams/flow.png)"]


def test_a_png_left_behind_by_its_source_fails_until_make_docs_renders_it(tree: Path):
    diagrams = tree / "docs" / "diagrams"
    (diagrams / "flow.dot").write_text("digraph flow { a -> b -> c }\n")
    subprocess.run(["dot", "-Tsvg", "flow.dot", "-o", "flow.svg"], cwd=diagrams, check=True)
    assert faults_of(check(tree)) == [
        "docs/diagrams/flow.dot:1: flow.png is out of date: run make docs and commit it"]
    subprocess.run([sys.executable, str(CHECKER), "--root", str(tree), "--render"], check=True,
                   capture_output=True)
    assert check(tree).returncode == 0


def test_a_diagram_too_wide_to_read_at_page_width_fails(tree: Path):
    # Twelve boxes side by side with 9 pt labels: about 1,100 pt wide, its text 5 px at page width.
    boxes = " ".join(f'n{i} [label="a box of the flow {i}"];' for i in range(12))
    diagrams = tree / "docs" / "diagrams"
    (diagrams / "flow.dot").write_text("digraph flow { node [fontsize=9]; " + boxes + " }\n")
    render(diagrams)
    faults = faults_of(check(tree))
    assert len(faults) == 1 and re.fullmatch(
        r"docs/diagrams/flow\.dot:1: its smallest text is \d\.\d px on a page 680 px wide \(at least 9\): "
        r"make it narrower \(rankdir=TB, shorter labels\) or split it", faults[0]), faults


def test_a_comment_that_names_a_missing_document_fails(tree: Path):
    (tree / "scripts" / "start.sh").write_text("#!/bin/sh\n# The limits: docs/security.md, the notes: docs/notes.md\n")
    assert faults_of(check(tree)) == ["scripts/start.sh:2: docs/security.md does not exist"]


def test_a_missing_docs_path_in_the_text_fails(tree: Path):
    plant(tree, "README.md", "\nThe guide is `docs/guide.md`; the notes are `docs/notes.md`.\n")
    assert faults_of(check(tree)) == ["README.md:12: docs/guide.md does not exist"]
