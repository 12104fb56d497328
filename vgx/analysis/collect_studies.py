"""Gather every study's verdict into outputs/reports/studies.md and an index page linking every
study's report.html (outputs/reports/index.html), copy one figure per study into docs/figures/
for the README, and rewrite the README's table of the papers' results between its markers
(`make studies` calls this after running the studies)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from vgx.analysis.page import write_index
from vgx.analysis.report import reports_root
from vgx.analysis.studies import STUDIES

README_BEGIN = "<!-- results of the papers: written by make studies -->"
README_END = "<!-- end of the results of the papers -->"


def papers_table(verdicts: dict[str, tuple[str, str]]) -> str:
    """The README's "Results of the papers": claim, published result, vgx's numbers, verdict."""
    lines = [
        "| study | paper, where | published | vgx measured | verdict |",
        "|---|---|---|---|---|",
    ]
    for name, (outcome, measured) in verdicts.items():
        paper = STUDIES[name].paper
        if paper is None:
            continue
        lines.append(
            f"| `{name}` | {paper.reference}; {paper.where} | {paper.published} | {measured} "
            f"| **{outcome}** |"
        )
    return "\n".join(lines)


def rewrite_readme(table: str, readme: Path = Path("README.md")) -> bool:
    """Put `table` between the README's markers; False where the README has none."""
    if not readme.exists():
        return False
    text = readme.read_text()
    if README_BEGIN not in text or README_END not in text:
        return False
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_BEGIN}\n{table}\n{README_END}{tail}")
    return True


def main(names: list[str]) -> int:
    lines = ["| study | claim (source) | verdict | measured |", "|---|---|---|---|"]
    verdicts: dict[str, tuple[str, str]] = {}
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
        verdicts[name] = (outcome, measured.removeprefix("**Measured**: ").rstrip("."))
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
    if rewrite_readme(papers_table(verdicts)):
        print("vgx: README.md's results of the papers rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
