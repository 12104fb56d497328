"""A report as one page: report.html, self-contained (figures embedded), that a student opens
in a browser or a teacher mails; the claim, the verdict with its numbers, the runs table and
every figure with a line on what to look at."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

# What to look at in each figure a report or a study draws, by file name.
CAPTIONS = {
    "loss_curves.png": "Training and validation loss by epoch: a curve that stays at the "
    "constant predictor's level learned nothing.",
    "grad_norm_by_layer.png": "Gradient norm of each layer at the start and at the end, on a log "
    "axis: a slope down toward layer 1 is the vanishing gradient.",
    "first_layer_weight_change.png": "How far the first layer's weights moved from their start: "
    "near 0 means the layer nearest the input did not learn.",
    "initial_grad_norm_vs_depth.png": "The gradient reaching layer 1 at initialisation against "
    "depth: an exponential fall is a straight line down on this log axis.",
    "error_vs_lambda.png": "Training and validation error against λ: the gap (variance) closes "
    "as λ grows, and the training error (bias) rises.",
    "factor_vs_theory.png": "Measured per-layer factor of the error signal against mean-field "
    "theory: below 1 vanishes, above 1 explodes.",
    "layer_factor.png": "Per-layer factor of the error signal by initialisation: inside the band "
    "around 1 the gradient stays level across layers.",
    "dead_units.png": "Share of ReLU units that output 0 on every validation example, by setting.",
    "loss_by_clipping.png": "Loss by epoch with and without clipping: without it the loss "
    "diverges or spikes.",
    "near_zero_weights.png": "Share of weights near zero under L1, L2 and no penalty: L1 makes "
    "many exactly small, L2 shrinks all evenly.",
    "first_layer_change_by_setting.png": "First-layer weight change by setting: the sigmoid net's "
    "first layer barely moves.",
}


def caption(name: str) -> str:
    return CAPTIONS.get(name, name.removesuffix(".png").replace("_", " ").capitalize() + ".")


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.stem)}">'


STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;font-size:.85em;margin:1em 0}td,th{border:1px solid #ccc;
padding:.2em .5em;text-align:right}th{background:#f3f3f3}figure{margin:2em 0}img{max-width:100%}
figcaption{color:#444;margin-top:.3em}.holds{color:#1a7f37}.fails{color:#b42318}.mixed{color:#9a6700}
.outcome{font-size:1.3em;font-weight:bold}.wide{overflow-x:auto}"""


def write_page(
    folder: Path,
    title: str,
    table: pd.DataFrame,
    verdict: dict[str, object] | None = None,
) -> Path:
    """report.html in `folder`, from its runs table and figures (figures/*.png, embedded).

    `verdict`, for a study: claim, source, rule, outcome, measured, rows (a DataFrame)."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if verdict is not None:
        outcome = str(verdict["outcome"])
        css = {"holds": "holds", "does not hold": "fails"}.get(outcome, "mixed")
        parts += [
            f"<p><b>Claim</b> ({html.escape(str(verdict['source']))}): "
            f"{html.escape(str(verdict['claim']))}.</p>",
            f"<p class='outcome {css}'>Verdict: {html.escape(outcome)}</p>",
            f"<p><b>Rule</b>: {html.escape(str(verdict['rule']))}.</p>",
            f"<p><b>Measured</b>: {html.escape(str(verdict['measured']))}.</p>",
            verdict["rows"].to_html(index=False, border=0, na_rep="–"),
        ]
    parts.append(f"<h2>Runs ({len(table)})</h2>")
    runs = table.to_html(index=False, border=0, na_rep="", float_format=lambda v: f"{v:.4g}")
    parts.append(f"<div class='wide'>{runs}</div>")  # many columns: it scrolls, the page not
    figures = sorted((folder / "figures").glob("*.png"))
    if figures:
        parts.append("<h2>Figures</h2>")
    for path in figures:
        parts.append(
            f"<figure>{_image(path)}<figcaption>{html.escape(caption(path.name))}</figcaption>"
            "</figure>"
        )
    parts.append("</body></html>")
    page = folder / "report.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page


def write_index(pages: dict[str, tuple[str, str, Path]], out: Path) -> Path:
    """An index page linking every study's report.html: {name: (claim, outcome, page)}."""
    rows = []
    for name, (claim, outcome, page) in pages.items():
        link = html.escape(str(page.relative_to(out.parent)))
        rows.append(
            f"<tr><td style='text-align:left'><a href='{link}'>{html.escape(name)}</a></td>"
            f"<td style='text-align:left'>{html.escape(claim)}</td>"
            f"<td>{html.escape(outcome)}</td></tr>"
        )
    body = "\n".join(rows)
    out.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>vgx studies</title>"
        f"<style>{STYLE}</style></head><body><h1>vgx studies</h1><table>"
        f"<tr><th>study</th><th>claim</th><th>verdict</th></tr>{body}</table></body></html>",
        encoding="utf-8",
    )
    return out
