"""The French documents' checker (scripts/checks/livrables.py) on a copy of the repository: the copy
as it is must pass, and each kind of error planted in it must be reported with its file and line.

    python3 -m pytest -q tests/docs        # what make test-docs runs after checking the repository

The copy is checked three times (as it is, with every error planted, with one setting changed):
each test reads its own fault among the answers.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKER = Path("scripts/checks/livrables.py")
DAT = "docs/livrables/dossier-architecture-technique.md"
STORAGE = "docs/livrables/guide-stockage.md"
ORCHESTRATOR = "docs/livrables/guide-orchestrateur.md"
PLAN = "docs/livrables/plan-de-remediation.md"


def copy_of_the_repository(destination: Path) -> Path:
    """The repository's files as git knows them (the screenshots aside), under destination."""
    names = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], check=True, capture_output=True, text=True).stdout
    for name in names.split("\0"):
        source = ROOT / name
        if not name or not source.is_file() or name.startswith("docs/screens/"):
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return destination


def check(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(root / CHECKER), "--root", str(root)],
                          capture_output=True, text=True)


def append(root: Path, name: str, text: str) -> int:
    """Adds a paragraph at the end of a file; the number of its first line."""
    path = root / name
    before = path.read_text(encoding="utf-8")
    path.write_text(before.rstrip("\n") + "\n\n" + text + "\n", encoding="utf-8")
    return len(before.rstrip("\n").splitlines()) + 2


def replace(root: Path, name: str, pattern: str, new) -> int:
    """Replaces the one match of a regular expression (new: a string or a function of the match);
    the number of its line."""
    path = root / name
    text = path.read_text(encoding="utf-8")
    matches = list(re.finditer(pattern, text))
    assert len(matches) == 1, f"{pattern!r} matches {len(matches)} times in {name}"
    path.write_text(re.sub(pattern, new, text), encoding="utf-8")
    return text[:matches[0].start()].count("\n") + 1


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> subprocess.CompletedProcess:
    return check(copy_of_the_repository(tmp_path_factory.mktemp("clean")))


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> tuple[dict[str, int], list[str]]:
    """One error of each kind planted in one copy: where each went, and the checker's answer."""
    root = copy_of_the_repository(tmp_path_factory.mktemp("planted"))
    where = {
        "spelling": append(root, STORAGE, "Les briques sont répliqées sur les trois nœuds de stockage."),
        "english": append(root, STORAGE, "The proxy forwards every request to the queue that the path names."),
        "history": append(root, STORAGE, "Mesuré sur cette machine pour l'issue 12 (AMD EPYC, charge 6 sur 2 cœurs)."),
        "count": replace(root, DAT, r"\b\d+ règles d'alerte", "Cent règles d'alerte"),
        "resources": append(root, ORCHESTRATOR, "La production réserve 0,1 CPU et 128 Mio pour son Redis."),
        "port": append(root, ORCHESTRATOR, "Grafana répond sur `http://<nœud>:3000`."),
        "secret": append(root, ORCHESTRATOR, "Les clés sont dans `.secrets/waitline/api-keys.txt`."),
        "value": append(root, ORCHESTRATOR, "Le budget hors production est `NONPROD_BUDGET_CPUS=1.5`."),
        "setting": append(root, ORCHESTRATOR, "La réservation de Redis est `prod_REDIS_RESERVE_MB`."),
        "flag": append(root, ORCHESTRATOR, "Le délai de Redis se règle par `--redis-timeot`."),
        "variable": append(root, ORCHESTRATOR, "Ou par la variable `WAITLINE_REDIS_TIMEOT`."),
        "panel": append(root, ORCHESTRATOR, "Le panneau « Débit des requêtes par plateforme » le montre."),
        "tally": replace(root, PLAN, r"\| \*\*total\*\* \| \*\*(\d+)\*\* \|",
                         lambda m: f"| **total** | **{int(m.group(1)) + 1}** |"),
        "date": append(root, DAT, "Relevé du 09/12/2026."),
        "markup": append(root, STORAGE, "Une commande coupée : `gluster volume\nstatus` ne se lit plus."),
        "cells": replace(root, DAT, r"\| \*\*Lot 1\*\* Dossier d'architecture technique \| ce document \|",
                         "| **Lot 1** Dossier d'architecture technique | ce document | une cellule de trop |"),
        "long": replace(root, DAT, r"\| \*\*Lot 4\*\* Scripts de déploiement \|",
                        "| **Lot 4** Scripts de déploiement, " + "encore " * 90 + "|"),
    }
    rules = root / "observability/prometheus/rules/waitline-service.rules.yml"
    text = rules.read_text(encoding="utf-8")
    rules.write_text(text.replace("summary: \"Le Redis de {{ $labels.platform }} est arrêté\"",
                                  "summary: \"The Redis of {{ $labels.platform }} is down and every queue of it fails\""))
    where["annotation"] = next(n for n, line in enumerate(text.splitlines(), 1) if line.strip() == "- alert: WaitlineRedisDown")
    result = check(root)
    assert result.returncode == 1, result.stdout + result.stderr
    return where, result.stdout.splitlines()


def said(faults: list[str], prefix: str, *parts: str) -> list[str]:
    """The faults that start with prefix and contain every part."""
    return [f for f in faults if f.startswith(prefix) and all(p in f for p in parts)]


def test_the_repository_as_it_is_passes(clean):
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert re.search(r"livrables: \d+ French documents: 0 faults", clean.stderr)


def test_a_word_that_no_dictionary_knows_is_a_spelling_fault(planted):
    where, faults = planted
    assert said(faults, f"{STORAGE}:{where['spelling']}: spelling: «répliqées»"), faults


def test_an_english_sentence_is_a_fault(planted):
    where, faults = planted
    assert said(faults, f"{STORAGE}:{where['english']}: english: «The proxy forwards"), faults


def test_an_english_alert_summary_is_a_fault(planted):
    where, faults = planted
    assert said(faults, f"observability/prometheus/rules/waitline-service.rules.yml:{where['annotation']}: english:"), faults


def test_text_about_how_the_product_was_built_is_a_fault(planted):
    where, faults = planted
    prefix = f"{STORAGE}:{where['history']}: history:"
    for words in ("«cette machine»", "«issue 12»", "«AMD»", "«EPYC»", "«charge 6 sur 2 cœurs»"):
        assert said(faults, prefix, words), (words, faults)


def test_a_wrong_count_of_alert_rules_is_a_fault(planted):
    where, faults = planted
    assert said(faults, f"{DAT}:{where['count']}: figures: «Cent règles d'alerte»: there are"), faults


def test_a_reservation_that_platforms_conf_does_not_set_is_a_fault(planted):
    where, faults = planted
    assert said(faults, f"{ORCHESTRATOR}:{where['resources']}: figures: 128 Mio is none of the values of",
                "prod_REDIS_RES_MEMORY_MB"), faults


def test_a_port_that_no_stack_publishes_is_a_fault(planted):
    where, faults = planted
    assert said(faults, f"{ORCHESTRATOR}:{where['port']}: figures: http://<nœud>:3000: only the proxy publishes"), faults


def test_a_secret_file_that_secrets_sh_does_not_make_is_a_fault(planted):
    where, faults = planted
    assert said(faults, f"{ORCHESTRATOR}:{where['secret']}: figures: .secrets/<projet>/api-keys.txt"), faults


def test_a_setting_quoted_with_another_value_or_unknown_is_a_fault(planted):
    where, faults = planted
    assert said(faults, f"{ORCHESTRATOR}:{where['value']}: figures: NONPROD_BUDGET_CPUS=1.5: "
                        "deploy/platforms.conf says NONPROD_BUDGET_CPUS=1.4"), faults
    assert said(faults, f"{ORCHESTRATOR}:{where['setting']}: figures: prod_REDIS_RESERVE_MB: no such setting"), faults


def test_an_option_or_variable_that_nothing_knows_is_a_fault(planted):
    where, faults = planted
    assert said(faults, f"{ORCHESTRATOR}:{where['flag']}: figures: --redis-timeot: the service has no such setting"), faults
    assert said(faults, f"{ORCHESTRATOR}:{where['variable']}: figures: WAITLINE_REDIS_TIMEOT: neither"), faults


def test_a_panel_that_no_dashboard_has_is_a_fault(planted):
    where, faults = planted
    assert said(faults, f"{ORCHESTRATOR}:{where['panel']}: figures: «Débit des requêtes par plateforme»: "
                        "no dashboard, row or panel has this title"), faults


def test_a_count_table_that_disagrees_with_the_findings_is_a_fault(planted):
    where, faults = planted
    assert said(faults, f"{PLAN}:{where['tally']}: figures: «total, corrigé:", "» but the findings table has"), faults


def test_a_document_dated_before_what_it_quotes_is_a_fault(planted):
    where, faults = planted
    assert said(faults, f"{DAT}:{where['date']}: figures: the document is dated", "quotes 09/12/2026"), faults


def test_a_code_span_across_lines_is_a_fault(planted):
    where, faults = planted
    assert said(faults, f"{STORAGE}:{where['markup']}: markup: a code span crosses the end of the line"), faults


def test_a_table_row_with_a_cell_too_many_or_a_cell_too_long_is_a_fault(planted):
    where, faults = planted
    assert said(faults, f"{DAT}:{where['cells']}: markup: a table row of 4 cells under a header of 3"), faults
    assert said(faults, f"{DAT}:{where['long']}: markup: a table cell of ", "words (at most 90)"), faults


def test_nothing_else_is_reported_than_what_was_planted(planted):
    where, faults = planted
    places = {(STORAGE, where[k]) for k in ("spelling", "english", "history", "markup")}
    places |= {(STORAGE, where["markup"] + 1)}
    places |= {(ORCHESTRATOR, where[k]) for k in ("resources", "port", "secret", "value", "setting", "flag", "variable",
                                                  "panel")}
    places |= {(DAT, where["count"]), (DAT, where["date"]), (DAT, where["cells"]), (DAT, where["long"]), (PLAN, where["tally"]),
               ("observability/prometheus/rules/waitline-service.rules.yml", where["annotation"])}
    unexpected = [f for f in faults if (f.split(":")[0], int(f.split(":")[1])) not in places]
    assert not unexpected, unexpected


def test_a_changed_setting_fails_until_the_document_follows(tmp_path):
    root = copy_of_the_repository(tmp_path)
    # Production's column of the row QUEUE_RES_MEMORY_MB: 32 MiB becomes 48.
    replace(root, "deploy/platforms.conf", r"(?m)^(QUEUE_RES_MEMORY_MB\s+\S+\s+\S+\s+)32$", lambda m: m.group(1) + "48")
    faults = check(root).stdout.splitlines()
    # The DAT's table of the platforms and the orchestrator's guide quote production's 32 MiB.
    assert said(faults, DAT, "figures: 32 Mio is none of the values of", "prod_QUEUE_RES_MEMORY_MB"), faults
    assert said(faults, ORCHESTRATOR, "figures: 32 Mio is none of the values of", "prod_QUEUE_RES_MEMORY_MB"), faults
