"""deploy/platforms.conf's one reader (scripts/platform/platforms.py) on files written here: what it
accepts, what it refuses with the line's number, and what it gives the Swarm and Helm scripts.

    python3 -m pytest -q tests/scripts        # what make test-scripts runs after shellcheck
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READER = ROOT / "scripts" / "platform" / "platforms.py"
sys.path.insert(0, str(READER.parent))
import platforms  # noqa: E402

CONF = (ROOT / "deploy" / "platforms.conf").read_text(encoding="utf-8")


def written(tmp_path: Path, queues: str) -> Path:
    """The repository's file with its queue lines replaced by `queues`."""
    kept = [line for line in CONF.splitlines() if not line.startswith("queue ")]
    path = tmp_path / "platforms.conf"
    path.write_text(queues + "\n" + "\n".join(kept) + "\n", encoding="utf-8")
    return path


def test_the_repository_file_labels_emeraude_and_reads_whole():
    p = platforms.load()
    assert p.queues == ("rubis", "saphir", "emeraude", "diamant")
    assert p.labels == {"emeraude": "Émeraude"}
    assert set(p.names) == {"dev", "qualif", "prod"}


def test_a_label_may_hold_spaces_accents_and_apostrophes(tmp_path):
    p = platforms.load(written(tmp_path, "queue accueil Accueil général\nqueue etat État civil (mairie)\n"
                                         "queue rdv Rendez-vous d’urgence\nqueue plain"))
    assert p.labels == {"accueil": "Accueil général", "etat": "État civil (mairie)", "rdv": "Rendez-vous d’urgence"}
    assert p.queues == ("accueil", "etat", "rdv", "plain")


@pytest.mark.parametrize("line, said", [
    ('queue q1 Say "hi"', "the label"),
    ("queue q1 Cost $5", "the label"),
    ("queue q1 a\\b", "the label"),
    ("queue q1 -dash first", "the label"),
    ("queue q1 " + "é" * 33, "at most 64 bytes"),
    ("queue Topaze", "`queue NAME [LABEL]`"),
    ("queue redis", "a name of the platform's own"),
    ("queue", "`queue NAME [LABEL]`"),
])
def test_a_bad_queue_line_is_refused_with_its_line_number(tmp_path, line, said):
    with pytest.raises(platforms.Malformed) as refused:
        platforms.load(written(tmp_path, "queue rubis\n" + line))
    assert ":2:" in str(refused.value) and said in str(refused.value), refused.value


def test_the_scripts_get_the_label_on_both_targets(tmp_path):
    path = written(tmp_path, "queue rubis\nqueue etat État civil (mairie)")
    env = {"WAITLINE_PLATFORMS_FILE": str(path), "PATH": "/usr/bin:/bin"}
    shell = subprocess.run([sys.executable, READER, "shell"], env=env, capture_output=True, text=True, check=True).stdout
    assert "label_etat='État civil (mairie)'" in shell.splitlines()
    assert not any(line.startswith("label_rubis=") for line in shell.splitlines())
    values = platforms.helm_values(platforms.load(path), "prod")
    assert values["queueOverrides"] == {"etat": {"env": {"WAITLINE_QUEUE_LABEL": "État civil (mairie)"}}}
