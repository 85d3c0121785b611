#!/usr/bin/env python3
"""Checks the French documents against their language and against the repository they describe.

    python3 scripts/checks/livrables.py               # exit 1 and one line per fault
    python3 scripts/checks/livrables.py --root DIR    # check another tree (the checker's own tests)
    python3 scripts/checks/livrables.py --words       # the unknown words only, one a line (to review
                                                      # before adding one to the project's list)

The French documents are docs/livrables/ (the client's deliverables) and docs/runbooks/ (the
on-call's); the alerts' summaries and descriptions (observability/prometheus/rules/) reach the
on-call in French too. A fault is printed as `file:line: kind: message`, kind being:

  spelling  a word of the prose (code, commands, links and paths aside) that neither Debian's
            French dictionary (hunspell, hunspell-fr) nor the project's own words know: the list
            scripts/checks/french-words.txt (one word a line, or word/model to inflect it as a
            French word: exporteur/porteur accepts "l'exporteur" and "exporteurs");
  english   a sentence in English (at least two English grammar words, a fifth of its words);
  history   text about how the product was built rather than about the product: issue numbers,
            continuous integration, "cette machine", the test machines' processors or load, the
            state of a branch;
  figures   a figure the repository can compute and the text gets wrong: the number of alert rules,
            runbooks, dashboards, platforms and queues; CPU and MiB figures of a platform's
            component against the platforms' description (deploy/platforms.conf); a setting quoted
            NAME=value or by name; the port of a URL (only the proxy publishes ports; 127.0.0.1 is
            a port-forward); a port number; a panel's title quoted where panels are spoken of; a
            .secrets/ path that scripts/platform/secrets.sh does not make; a --flag or WAITLINE_
            variable that neither the service (src/) nor the scripts know; a count table that
            disagrees with the table it counts (the plan's findings); a document dated before a
            date it quotes;
  markup    what these checks cannot read, or a reader cannot: a code span across two lines, a
            table row with more or fewer cells than its header, a table cell of more than 90 words.
Make targets, links and repository paths are scripts/checks/docs.py's business.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

FRENCH_DOCS = ("docs/livrables", "docs/runbooks")
# The client's brief, quoted as it was given (its spelling included): only the facts are checked.
VERBATIM = ("docs/livrables/cahier-des-charges.md",)
WORDS = "scripts/checks/french-words.txt"
RULES = "observability/prometheus/rules"
# The platforms, their queues and settings.
PLATFORMS_CONF = "deploy/platforms.conf"
SECRETS_SCRIPT = "scripts/platform/secrets.sh"

FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
HTML_COMMENT = re.compile(r"<!--.*?-->")
LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)]*)\)")
AUTOLINK = re.compile(r"<(?:https?|mailto):[^>]*>")
URL = re.compile(r"\b(?:https?|ftp)://[^\s)`>|]+")

# --- text ----------------------------------------------------------------------------------------


@dataclass
class Line:
    path: str
    number: int
    text: str          # as written
    prose: str         # outside code blocks, code spans and link targets removed ("" in code)
    code: str          # inside a fenced block, or the code spans of a prose line
    in_table: bool = False
    header: tuple[str, ...] = ()  # a table row's column titles
    starts: list[tuple[int, int]] = field(default_factory=list)


def cells(text: str) -> list[str]:
    return [c.strip() for c in text.strip().strip("|").split("|")]


def markdown_lines(root: Path, path: Path) -> list[Line]:
    lines, fence, header, previous = [], None, (), ""
    relative = str(path.relative_to(root))
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        opening = FENCE.match(text)
        if fence is None and opening:
            fence = opening.group(1)
            continue
        if fence is not None:
            if text.strip().startswith(fence):
                fence = None
            else:
                lines.append(Line(relative, number, text, "", text))
            continue
        spans = " ".join(m.group(2) for m in CODE_SPAN.finditer(text))
        prose = HTML_COMMENT.sub(" ", text)
        prose = CODE_SPAN.sub(" ", prose)
        prose = LINK.sub(lambda m: m.group(2), prose)
        prose = AUTOLINK.sub(" ", prose)
        prose = URL.sub(" ", prose)
        prose = re.sub(r"<[^>]+>", " ", prose)  # HTML tags
        in_table = text.lstrip().startswith("|")
        if in_table and not previous.lstrip().startswith("|"):
            header = tuple(cells(prose))
        previous = text
        lines.append(Line(relative, number, text, prose, spans, in_table, header if in_table else ()))
    return lines


def rule_lines(root: Path) -> list[Line]:
    """The summary and description of every alert, as a line of its rule file."""
    out = []
    for path in sorted((root / RULES).glob("*.rules.yml")):
        text = path.read_text(encoding="utf-8")
        for group in (yaml.safe_load(text) or {}).get("groups", []):
            for rule in group.get("rules", []):
                if "alert" not in rule:
                    continue
                number = next((i for i, l in enumerate(text.splitlines(), 1) if l.strip() == f"- alert: {rule['alert']}"), 1)
                for key in ("summary", "description"):
                    value = re.sub(r"\{\{.*?\}\}", " ", str(rule.get("annotations", {}).get(key, "")))
                    out.append(Line(str(path.relative_to(root)), number, value, URL.sub(" ", value), ""))
    return out


def french_files(root: Path) -> list[Path]:
    return sorted(p for d in FRENCH_DOCS for p in (root / d).rglob("*.md"))


BREAK = re.compile(r"^\s*(?:#|[-*+] |\d+\. |\||>)")


def paragraphs(lines: list[Line]) -> list[Line]:
    """Prose lines joined into paragraphs (a list item or a table row stands alone), so that a
    sentence is read whole; `starts` maps an offset of the joined prose back to its line."""
    out: list[Line] = []
    for line in lines:
        if not line.prose.strip():
            out.append(None)  # a blank line, or a line of code: a break
            continue
        last = out[-1] if out else None
        if last is None or line.in_table or last.in_table or BREAK.match(line.text) or last.path != line.path:
            out.append(Line(line.path, line.number, line.text, line.prose, line.code, line.in_table,
                            line.header, [(0, line.number)]))
        else:
            last.starts.append((len(last.prose) + 1, line.number))
            last.prose += " " + line.prose
            last.text += "\n" + line.text
            last.code += " " + line.code
    return [p for p in out if p is not None]


def line_at(paragraph: Line, offset: int) -> int:
    return max((number for start, number in paragraph.starts if start <= offset), default=paragraph.number)


def sentences(line: Line, colons: bool = True) -> list[tuple[int, str]]:
    """(offset, text) of each sentence of the prose, or of each cell of a table row; a colon
    between spaces ends a sentence too, unless `colons` is false."""
    spans, start = [], 0
    parts = line.prose.split("|") if line.in_table else [line.prose]
    for part in parts:
        for m in re.finditer(r"[^.;!?]+(?:[.;!?]+(?=\s|$)|$)|\S+", part):
            for piece in re.split(r"\s+:\s+", m.group(0)) if colons else [m.group(0)]:
                if piece.strip():
                    spans.append((start + m.start() + m.group(0).find(piece), piece))
        start += len(part) + 1
    return spans


# --- spelling ------------------------------------------------------------------------------------

def project_words(root: Path) -> list[str]:
    path = root / WORDS
    if not path.exists():
        return []
    return [w.strip() for w in path.read_text(encoding="utf-8").splitlines()
            if w.strip() and not w.lstrip().startswith("#")]


def spelling_text(line: Line) -> str:
    """What hunspell reads of a line: words without digits, paths or identifiers."""
    kept = []
    for token in re.split(r"\s+", line.prose):
        bare = token.strip(".,;:!?()[]{}«»\"*_~")
        if not bare or re.search(r"[0-9/\\=@#<>$&+×_]|^[-.]|\.[a-z]", bare):
            continue
        if re.search(r"[a-z][A-Z]", bare):
            continue  # an identifier or a product's name: WaitlineRedisDown, PriorityClass, cAdvisor
        if re.search(r"\w", bare):
            kept.append(bare)
    return " ".join(kept)


def misspelled(root: Path, lines: list[Line]) -> list[tuple[Line, str]]:
    if shutil.which("hunspell") is None or not Path("/usr/share/hunspell/fr_FR.dic").exists():
        raise SystemExit("livrables: hunspell and its French dictionary are missing: "
                         "apt-get install hunspell hunspell-fr (scripts/setup/install-deps.sh does it)")
    texts = [spelling_text(line) for line in lines]
    with tempfile.NamedTemporaryFile("w", suffix=".dic", encoding="utf-8") as personal:
        personal.write("\n".join(project_words(root)) + "\n")
        personal.flush()
        # List mode (-l) prints each unknown word and computes no suggestion: fast. Lines are
        # numbered back by searching the words in them.
        unknown = set(subprocess.run(["hunspell", "-d", "fr_FR", "-p", personal.name, "-l"],
                                     input="\n".join(texts) + "\n", capture_output=True, text=True,
                                     check=True).stdout.split())
    found = []
    for line, text in zip(lines, texts):
        tokens = set(re.split(r"[\s.,;:!?()\[\]{}«»\"*]+", text))
        found += [(line, word) for word in sorted(tokens & unknown)]
    return found


# --- English -------------------------------------------------------------------------------------

# English grammar words that are not French words too ("a", "on", "or", "as", "but", "are" are).
ENGLISH = set("""the and of to is was were be been being with without when where which who what
that this these those from into it its they their them there has have had does did not every
each only also because than then will would should can could our your you we how why after
before over under about between through by for if any all must such while whose whom yet""".split())
WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿœŒ]+(?:['’][A-Za-zÀ-ÖØ-öø-ÿœŒ]+)*")


def english(sentence: str) -> bool:
    words = WORD.findall(sentence)
    hits = [w for w in words if w.lower() in ENGLISH]
    return len(hits) >= 2 and len(hits) * 5 >= len(words)


# --- how the product was built -------------------------------------------------------------------

HISTORY = [
    (re.compile(r"\bissues?\s*#?\d+|(?<![&\w])#\d{1,4}\b", re.I), "an issue number"),
    (re.compile(r"\bCI\b|intégration continue|\.ci/"), "continuous integration"),
    (re.compile(r"\bcette machine\b|machine (?:de (?:mesure|test|CI)|du \d)", re.I), "the machine the work was done on"),
    (re.compile(r"\b(?:AMD|Intel|EPYC|Xeon|Ryzen|Opteron|Graviton)\b|hyperappel|hypercall|pvm_\w+", re.I),
     "a test machine's processor"),
    (re.compile(r"\bcharge (?:moyenne )?(?:de |d'environ |d’environ |~)?\d+(?:,\d+)?(?: à \d+)? sur \d+ cœurs|"
                r"partage(?:ant|nt)? (?:ses |leurs |les )?(?:deux|\d+) cœurs", re.I), "a test machine's load"),
    (re.compile(r"branche principale|\bbranche `?main`?|\bpull request|lors de la rédaction", re.I),
     "the state of the work"),
]


# --- figures -------------------------------------------------------------------------------------

NUMBERS = {"un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7,
           "huit": 8, "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14,
           "quinze": 15, "seize": 16, "dix-sept": 17, "dix-huit": 18, "dix-neuf": 19, "vingt": 20,
           "trente": 30, "quarante": 40, "cinquante": 50, "cent": 100}
NUMBER = r"(?<![\w.,])(\d+|" + "|".join(sorted(NUMBERS, key=len, reverse=True)) + r")"
# A count followed by one of these is about a subset ("deux alertes de sécurité"): not checked.
SUBSET = r"(?!\s+(?:de|du|des|d['’]|sur|pour|en|qui|dont|critiques|parmi)\b)"


def number(word: str) -> int:
    return int(word) if word.isdigit() else NUMBERS[word.lower()]


def read_platforms(root: Path) -> tuple[str, dict[str, str], list[str], list[str]]:
    """Where the platforms are described, their settings (a platform's own value named
    <platform>_KEY, as the documents write it), the platforms and the queues: deploy/platforms.conf,
    through its one reader (scripts/platform/platforms.py)."""
    sys.path.insert(0, str(root / "scripts" / "platform"))
    try:
        import platforms
    finally:
        sys.path.pop(0)
    described = platforms.load(root / PLATFORMS_CONF)
    return PLATFORMS_CONF, described.flat(), list(described.names), list(described.queues)


@dataclass
class Facts:
    alerts: int
    runbooks: int
    dashboards: int
    platforms: list[str]
    queues: list[str]
    settings_file: str
    settings: dict[str, str]
    titles: set[str]           # the dashboards', their rows' and their panels' titles
    published_ports: set[int]
    known_ports: set[int]
    secrets: set[str]          # paths relative to .secrets/<project>/, directories end with /
    secrets_script: str
    service_flags: set[str]
    variables: set[str]        # WAITLINE_* known to the scripts, deployments and tests
    commands_flags: set[str]   # --flags used in the documents' commands


def repository_facts(root: Path, lines: list[Line]) -> Facts:
    alerts = 0
    for path in (root / RULES).glob("*.rules.yml"):
        for group in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("groups", []):
            alerts += sum(1 for rule in group.get("rules", []) if "alert" in rule)
    runbooks = len([p for p in (root / "docs/runbooks").glob("*.md") if p.name != "README.md"])
    dashboards = len(list((root / "observability/dashboards").glob("*.json")))
    source, settings, platforms, queues = read_platforms(root)

    published = set()
    swarm = (root / "scripts/platform/swarm.sh").read_text(encoding="utf-8")
    for variable in re.findall(r"published:\s*\$\{(\w+)", "".join(
            p.read_text(encoding="utf-8") for p in (root / "deploy/swarm").glob("*.yml"))):
        published.update(int(v) for v in re.findall(rf"\$\{{{variable}:-(\d+)\}}", swarm))
        published.update(int(v) for p in (root / "deploy/ansible").rglob("*.yml")
                         for v in re.findall(rf"^\s*{variable.lower()}:\s*(\d+)\s*$",
                                             p.read_text(encoding="utf-8"), re.M))
    # Ports that the products we run choose themselves: SSH, mail, DNS, HTTP(S), Docker Swarm
    # (2377, 7946, 4789), GlusterFS (24007, bricks from 49152).
    known = {22, 25, 53, 80, 443, 587, 2377, 7946, 4789, 24007, 49152} | published
    sources = [p for d in ("deploy", "observability", "scripts", "src", "tests/cluster")
               for p in (root / d).rglob("*") if p.is_file() and p.suffix not in (".png", ".svg")]
    texts = {p: p.read_text(encoding="utf-8", errors="replace") for p in sources}
    for text in texts.values():
        known.update(int(n) for n in re.findall(r"(?<![\w.])(\d{2,5})(?![\w.])", text) if int(n) < 65536)

    flags = set()
    for p, text in texts.items():
        if p.is_relative_to(root / "src"):
            flags.update(re.findall(r'"([a-z][a-z0-9]*(?:-[a-z0-9]+)*)"', text))
    variables = set()
    for p, text in texts.items():
        variables.update(re.findall(r"\bWAITLINE_[A-Z0-9_]+", text))
    for extra in ("Makefile",):
        variables.update(re.findall(r"\bWAITLINE_[A-Z0-9_]+", (root / extra).read_text(encoding="utf-8")))
    for p in (root / "tests").rglob("*.py"):
        if root / "tests" / "docs" in p.parents:
            continue  # the checkers' own tests name unknown variables on purpose
        variables.update(re.findall(r"\bWAITLINE_[A-Z0-9_]+", p.read_text(encoding="utf-8", errors="replace")))

    commands = set()
    for line in lines:
        if not line.prose and line.code:  # a line of a code block
            commands.update(re.findall(r"(?<![\w-])--([a-z][a-z0-9.-]*)", line.code))

    titles = set()
    for path in (root / "observability/dashboards").glob("*.json"):
        board = json.loads(path.read_text(encoding="utf-8"))
        titles.add(board.get("title", ""))
        stack = list(board.get("panels", []))
        while stack:
            panel = stack.pop()
            titles.add(panel.get("title", ""))
            stack += panel.get("panels", [])
    return Facts(alerts, runbooks, dashboards, platforms, queues, source, settings, titles, published, known,
                 made_secrets(root), str((root / SECRETS_SCRIPT).relative_to(root)), flags, variables, commands)


def made_secrets(root: Path) -> set[str]:
    """What scripts/platform/secrets.sh makes, run into a temporary directory."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([str((root / SECRETS_SCRIPT))], env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
                       "WAITLINE_SECRETS_DIR": f"{tmp}/s"}, capture_output=True, check=True)
        base = Path(tmp) / "s"
        return {str(p.relative_to(base)) + ("/" if p.is_dir() else "") for p in base.rglob("*")}


COUNTS = [
    (re.compile(NUMBER + r"\s+règles d['’]alerte\b", re.I), "alerts", "alert rules in observability/prometheus/rules/"),
    (re.compile(NUMBER + r"\s+alertes\b" + SUBSET, re.I), "alerts", "alert rules in observability/prometheus/rules/"),
    (re.compile(NUMBER + r"\s+fiches d['’]intervention\b", re.I), "runbooks", "runbooks in docs/runbooks/"),
    (re.compile(NUMBER + r"\s+tableaux de bord\b", re.I), "dashboards", "dashboards in observability/dashboards/"),
    (re.compile(NUMBER + r"\s+plateformes\b" + SUBSET, re.I), "platforms", "platforms"),
    (re.compile(NUMBER + r"\s+files\b(?! d['’]attente de)" + SUBSET, re.I), "queues", "queues per platform"),
]

# A platform's components, the words that name them, and the settings that size them.
COMPONENTS = {
    "QUEUE": r"\bréplique|\bfiles?\b",
    "REDIS": r"\bredis\b",
    "REDIS_EXPORTER": r"exporteur|redis_exporter",
}
SHARED = {
    "EDGE": r"\bproxy\b|\bnginx\b",
    "PROMETHEUS": r"\bprometheus\b",
    "ALERTMANAGER": r"\balertmanager\b",
    "GRAFANA": r"\bgrafana\b",
    "CADVISOR": r"\bcadvisor\b",
    "NODE_EXPORTER": r"node_exporter",
    "NONPROD_BUDGET": r"budget|plafonn|ensemble",
}
PLATFORM_WORDS = {"prod": r"\bprod(?:uction)?\b", "dev": r"\bdev\b|développement", "qualif": r"\bqualif(?:ication)?\b"}
APPROXIMATE = r"(?:environ|moins de|plus de|jusqu['’]à|au plus|au moins|≈|~)"
SIZING = r"réserv|limit|plafon|budget|maxmemory|dimensionn"
CPU = re.compile(r"(?<![\w,])(\d+(?:,\d+)?)\s*(?:CPU|cœurs?)\b")
MIB = re.compile(r"(?<![\w,])(\d{1,3}(?:[  ]\d{3})*(?:,\d+)?)\s*Mio\b")


def resource_figures(piece: str, context: str, facts: Facts) -> list[str]:
    """Faults of the CPU and MiB figures of a piece of a sentence (cut at its commas) that sizes a
    component of a platform: a reservation, a limit, the budget. The component must be named in
    the piece itself; the platforms and the sizing word may be in its sentence (the context).
    Measured figures, estimates and bounds are not settings: not checked."""
    whole = f"{context} {piece}"
    if not re.search(SIZING, whole, re.I):
        return []
    def platforms_in(text: str) -> list[str]:
        text = re.sub(r"hors[- ]production", "dev qualif", text, flags=re.I)
        return [p for p, pattern in PLATFORM_WORDS.items() if re.search(pattern, text, re.I)]
    platforms = platforms_in(piece) or platforms_in(context) or facts.platforms
    keys = [f"{p}_{c}_" for c, pattern in COMPONENTS.items() if re.search(pattern, piece, re.I) for p in platforms]
    keys += [f"{c}_" for c, pattern in SHARED.items() if re.search(pattern, piece, re.I)]
    if not keys:
        return []
    selected = {k: v for k, v in facts.settings.items() if any(k.startswith(prefix) for prefix in keys)
                and not (k.startswith(tuple(f"{p}_REDIS_" for p in facts.platforms)) and "_EXPORTER_" in k
                         and not any(prefix.endswith("_EXPORTER_") for prefix in keys))}
    faults = []
    for pattern, suffix, unit in ((CPU, "CPUS", "CPU"), (MIB, "_MB", "Mio")):
        allowed = {float(v) for k, v in selected.items() if k.endswith(suffix) and re.fullmatch(r"[\d.]+", v)}
        for m in pattern.finditer(piece):
            figure = m.group(1)
            if re.search(APPROXIMATE + r"\s*$", piece[:m.start()], re.I):
                continue
            value = float(re.sub(r"[  ]", "", figure).replace(",", "."))
            if value not in allowed:
                names = ", ".join(sorted(k for k in selected if k.endswith(suffix))) or "none"
                faults.append(f"{figure} {unit} is none of the values of {names} in {facts.settings_file}")
    return faults


SETTING = re.compile(r"(?<![\w<>$-])((?:dev|qualif|prod|<plateforme>)_[A-Z][A-Z0-9_]*|"
                     r"(?:EDGE|NONPROD|PROMETHEUS|ALERTMANAGER|GRAFANA|CADVISOR|NODE_EXPORTER|HEALTHCHECK)_[A-Z0-9_*]+)"
                     r"(?:=([^\s`,;)]+))?")
SECRET_PATH = re.compile(r"\.secrets/([\w<>{}.,/-]+)")
PORT_URL = re.compile(r"\bhttps?://([^/\s:`]+):(\d+)")
PORT_WORD = re.compile(r"\b(?:ports?|TCP|UDP)\s+(\d{2,5})\b")
FLAG = re.compile(r"^--([a-z][a-z0-9-]*)(?:=.*)?$")


def expand_braces(path: str) -> list[str]:
    m = re.search(r"\{([^{}]*)\}", path)
    if not m:
        return [path]
    return [p for choice in m.group(1).split(",") for p in expand_braces(path[:m.start()] + choice + path[m.end():])]


def paragraph_figure_faults(paragraph: Line, facts: Facts) -> list[tuple[int, str]]:
    """Counts and resource figures, read in whole sentences (or table cells with their titles)."""
    faults = []
    for pattern, what, where in COUNTS:
        for m in pattern.finditer(paragraph.prose):
            said, real = number(m.group(1)), getattr(facts, what)
            real = len(real) if isinstance(real, list) else real
            if said != real:
                faults.append((m.start(), f"«{m.group(0)}»: there are {real} {where}"))
    # A panel named in quotes, in a sentence or a table row that speaks of panels, is one.
    if re.search(r"panneau", paragraph.prose + " ".join(paragraph.header), re.I):
        for m in re.finditer(r"«\s*([^»]+?)\s*»", paragraph.prose):
            quoted = " ".join(m.group(1).split())
            if not any(title == quoted or title.startswith(quoted + ",") for title in facts.titles):
                faults.append((m.start(), f"«{quoted}»: no dashboard, row or panel has this title "
                                          f"(observability/dashboards/)"))
    if paragraph.in_table and paragraph.header:
        row = cells(paragraph.prose)
        sized = [(f"{paragraph.header[i] if i < len(paragraph.header) else ''} {row[0]}", cell)
                 for i, cell in enumerate(row) if i]
        pieces = [(0, f"{context} {cell}", f"{context} {piece}") for context, cell in sized
                  for piece in re.split(r",\s+|;\s+", cell)]
    else:
        pieces = [(offset, sentence, piece) for offset, sentence in sentences(paragraph, colons=False)
                  for piece in re.split(r",\s+", sentence)]
    for offset, context, piece in pieces:
        faults += [(offset, fault) for fault in resource_figures(piece, context, facts)]
    return faults


def figure_faults(line: Line, facts: Facts) -> list[str]:
    """Settings, secrets, ports, flags and variables, line by line (code included)."""
    faults = []
    prose = line.prose
    whole = line.text
    for m in SETTING.finditer(whole):
        name, value = m.group(1), m.group(2)
        names = [name.replace("<plateforme>", p) for p in facts.platforms] if "<plateforme>" in name else [name]
        for n in names:
            matching = [k for k in facts.settings if re.fullmatch(re.escape(n).replace(r"\*", ".*"), k)]
            if not matching:
                faults.append(f"{n}: no such setting in {facts.settings_file}")
            elif value is not None and "*" not in n and facts.settings[n] != value:
                faults.append(f"{n}={value}: {facts.settings_file} says {n}={facts.settings[n]}")
    for m in SECRET_PATH.finditer(whole):
        raw = m.group(1).rstrip(".,;:)")
        raw = re.sub(r"^(?:<projet>|waitline)/", "", raw)
        if raw.startswith("<") and raw.count("/") == 0:
            continue
        for path in expand_braces(raw.replace("<plateforme>", "prod").replace("<file>", "rubis")):
            if "<" in path or "…" in path:
                continue
            if path not in facts.secrets and path + "/" not in facts.secrets:
                faults.append(f".secrets/<projet>/{path}: {facts.secrets_script} makes no such file")
    for m in PORT_URL.finditer(whole):
        host, port = m.group(1), int(m.group(2))
        if port not in facts.published_ports and host not in ("127.0.0.1", "[::1]"):
            ports = ", ".join(str(p) for p in sorted(facts.published_ports))
            faults.append(f"{m.group(0)}: only the proxy publishes ports ({ports}); the rest is reached "
                          f"through it, or by a port-forward to 127.0.0.1")
    for m in PORT_WORD.finditer(prose + " " + (line.code if line.prose else "")):
        if int(m.group(1)) not in facts.known_ports:
            faults.append(f"port {m.group(1)}: no configuration of the repository uses it")
    if line.prose:  # a code span that is a flag alone is a setting of the service, or a command's
        for span in CODE_SPAN.finditer(line.text):
            flag = FLAG.match(span.group(2).strip())
            if flag and flag.group(1) not in facts.service_flags and flag.group(1) not in facts.commands_flags:
                faults.append(f"--{flag.group(1)}: the service has no such setting (src/)")
    for variable in re.findall(r"\bWAITLINE_[A-Z0-9_]+", whole):
        flag = variable[len("WAITLINE_"):].lower().replace("_", "-")
        if variable not in facts.variables and flag not in facts.service_flags:
            faults.append(f"{variable}: neither a setting of the service nor a variable of the scripts")
    return faults


MAX_CELL_WORDS = 90  # a table cell is read at a glance; code spans are not counted
MONTHS = {m: i for i, m in enumerate("janvier février mars avril mai juin juillet août septembre octobre "
                                        "novembre décembre".split(), 1)}
DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(20\d\d)\b|\b(20\d\d)-(\d\d)-(\d\d)\b|"
                  r"\b(\d{1,2}) (" + "|".join(MONTHS) + r") (20\d\d)\b")
FUTURE = re.compile(r"jusqu|avant |échéance|d['’]ici|prévu|planifi|fin de vie", re.I)


def dates(text: str) -> list[tuple[str, tuple[int, int, int]]]:
    found = []
    for m in DATE.finditer(text):
        if m.group(1):
            found.append((m.group(0), (int(m.group(3)), int(m.group(2)), int(m.group(1)))))
        elif m.group(4):
            found.append((m.group(0), (int(m.group(4)), int(m.group(5)), int(m.group(6)))))
        else:
            found.append((m.group(0), (int(m.group(9)), MONTHS[m.group(8)], int(m.group(7)))))
    return found


def document_faults(path: str, lines: list[Line]) -> list[tuple[int, str]]:
    """What a document says about itself: its date against the dates it quotes, a count table
    against the table it counts, code spans that end on their line."""
    faults = []
    for line in lines:
        if line.prose and line.text.count("`") % 2:
            faults.append((line.number, "markup: a code span crosses the end of the line: keep it on one "
                                        "line (the checks read a line at a time)"))
    for line in lines:
        if line.in_table and line.header and not set(line.prose.strip()) <= set("|-: "):
            row = cells(line.prose)
            if len(row) != len(line.header):
                faults.append((line.number, f"markup: a table row of {len(row)} cells under a header of "
                                            f"{len(line.header)}"))
            for cell in row:
                if len(cell.split()) > MAX_CELL_WORDS:
                    faults.append((line.number, f"markup: a table cell of {len(cell.split())} words (at most "
                                                f"{MAX_CELL_WORDS}): say the rest in the text or an appendix"))
    version = next((line for line in lines if re.match(r"\|\s*Version du document\s*\|", line.text)), None)
    if version and dates(version.text):
        label, day = dates(version.text)[0]
        for paragraph in paragraphs(lines):
            for offset, sentence in sentences(paragraph, colons=False):
                if FUTURE.search(sentence):
                    continue
                for quoted, when in dates(sentence):
                    if when > day:
                        faults.append((line_at(paragraph, offset), f"figures: the document is dated {label} "
                                                                    f"and quotes {quoted}, a later date"))
    # A findings table (Id, Sévérité, …, Statut) and its count table (Sévérité, statuses…, total).
    tables, current = [], []
    for line in lines:
        if line.in_table:
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    tables += [current] if current else []
    findings = next((t for t in tables if {"Id", "Sévérité", "Statut"} <= set(t[0].header)), None)
    counts = next((t for t in tables if t[0].header[:1] == ("Sévérité",) and "total" in t[0].header), None)
    if findings and counts:
        severity, status = findings[0].header.index("Sévérité"), findings[0].header.index("Statut")
        tally: dict[tuple[str, str], int] = {}
        for row in findings[2:]:
            c = cells(row.prose)
            if len(c) > max(severity, status):
                key = (c[severity].strip("* ").lower(), c[status].strip("* ").lower())
                tally[key] = tally.get(key, 0) + 1
        header = [h.strip("* ").lower() for h in counts[0].header]
        for row in counts[2:]:
            c = [x.strip("* ").lower() for x in cells(row.prose)]
            for column, said in zip(header[1:], c[1:]):
                if not said.isdigit():
                    continue
                real = sum(n for (sev, st), n in tally.items()
                           if (c[0] == "total" or sev == c[0]) and (column == "total" or st == column))
                if int(said) != real:
                    faults.append((row.number, f"figures: «{c[0]}, {column}: {said}» but the findings table "
                                               f"has {real}"))
    return faults


# --- the whole -----------------------------------------------------------------------------------

def check(root: Path) -> list[str]:
    lines = [line for path in french_files(root) for line in markdown_lines(root, path)]
    rules = rule_lines(root)
    faults: list[tuple[str, int, str]] = []
    written = [line for line in lines if line.path not in VERBATIM]
    for line, word in misspelled(root, written + rules):
        faults.append((line.path, line.number, f"spelling: «{word}» is in neither the French dictionary "
                                                f"nor {WORDS}"))
    texts = paragraphs(written) + rules
    for paragraph in texts:
        for offset, sentence in sentences(paragraph):
            if english(sentence):
                faults.append((paragraph.path, line_at(paragraph, offset), f"english: «{sentence.strip()}»"))
    for paragraph in paragraphs(lines):
        for pattern, what in HISTORY:
            for m in pattern.finditer(paragraph.prose):
                faults.append((paragraph.path, line_at(paragraph, m.start()),
                               f"history: «{m.group(0)}» is about {what}, not the product"))
    for line in lines:
        for pattern, what in HISTORY:
            for m in pattern.finditer(line.code):
                faults.append((line.path, line.number, f"history: «{m.group(0)}» is about {what}, not the product"))
    facts = repository_facts(root, lines)
    for line in lines:
        for fault in figure_faults(line, facts):
            faults.append((line.path, line.number, f"figures: {fault}"))
    for paragraph in paragraphs(lines):
        for offset, fault in paragraph_figure_faults(paragraph, facts):
            faults.append((paragraph.path, line_at(paragraph, offset), f"figures: {fault}"))
    for path in french_files(root):
        relative = str(path.relative_to(root))
        for number, fault in document_faults(relative, [line for line in lines if line.path == relative]):
            faults.append((relative, number, fault))
    return [f"{path}:{number}: {message}" for path, number, message in sorted(set(faults))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("--words", action="store_true", help="print the unknown words only")
    arguments = parser.parse_args()
    root = arguments.root.resolve()
    if arguments.words:
        lines = [line for path in french_files(root) for line in markdown_lines(root, path)
                 if line.path not in VERBATIM]
        for word in sorted({word for _, word in misspelled(root, lines + rule_lines(root))}):
            print(word)
        return 0
    faults = check(root)
    for fault in faults:
        print(fault)
    print(f"livrables: {len(french_files(root))} French documents: {len(faults)} faults", file=sys.stderr)
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
