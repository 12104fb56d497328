"""Gather every study's verdict into outputs/reports/studies.md and an index page linking every
study's report.html (outputs/reports/index.html), and copy one figure per study into
docs/figures/ for the README (`make studies` calls this after running the studies)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from vgx.analysis.page import write_index
from vgx.analysis.report import reports_root
from vgx.analysis.studies import STUDIES


def main(names: list[str]) -> int:
    lines = ["| study | claim (source) | verdict | measured |", "|---|---|---|---|"]
    sections = []
    pages = {}
    for name in names or list(STUDIES):
        verdict = reports_root() / f"study-{name}" / "verdict.md"
        if not verdict.exists():
            print(f"vgx: no verdict for {name}: run `vgx study {name}` first", file=sys.stderr)
            return 2
        text = verdict.read_text()
        outcome = text.splitlines()[0].split(": ", 1)[1]
        measured = next(line for line in text.splitlines() if line.startswith("**Measured**"))
        study = STUDIES[name]
        lines.append(
            f"| `{name}` | {study.claim} ({study.source}) | **{outcome}** | "
            f"{measured.removeprefix('**Measured**: ')} |"
        )
        sections.append(text)
        page = reports_root() / f"study-{name}" / "report.html"
        if page.exists():
            pages[name] = (study.claim, outcome, page)
        if study.headline_figure:  # the figure that shows the claim best
            docs = Path("docs/figures")
            docs.mkdir(parents=True, exist_ok=True)
            source = reports_root() / f"study-{name}" / "figures" / study.headline_figure
            if source.exists():
                shutil.copy(source, docs / f"{name}.png")
    out = reports_root() / "studies.md"
    out.write_text("\n".join(lines) + "\n\n" + "\n".join(sections))
    print(out.read_text())
    index = write_index(pages, reports_root() / "index.html")
    print(f"vgx: every study's page: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
