"""The source texts' comparisons as studies: a sweep (conf/study/NAME.yaml) and a verdict computed
from the recorded metrics by the study's own module, where its claim, thresholds, judge and figure
stand side by side. A claim may come out "does not hold": that is reported with its numbers."""

from __future__ import annotations

from pathlib import Path

from vgx.analysis.runs import Runs
from vgx.analysis.studies import (
    batchnorm,
    degradation,
    depth_activation,
    dropout,
    dying_relu,
    dynamical_isometry,
    exploding_clip,
    glorot_gradients,
    he_init_depth,
    init,
    l1_sparsity,
    lambda_bias_variance,
    mse_vs_cross_entropy,
    residual,
    rnn_exploding_clip,
    rnn_identity_init,
    rnn_long_range,
    sigmoid_vs_relu,
    sign_updates,
    trainable_depth,
)
from vgx.analysis.studies.base import Study, Verdict, measurements

# The registry: `vgx study`, the Makefile's `make studies` and the README's table read it.
STUDIES: dict[str, Study] = {
    module.STUDY.name: module.STUDY
    for module in (
        sigmoid_vs_relu,
        depth_activation,
        init,
        exploding_clip,
        dying_relu,
        batchnorm,
        residual,
        lambda_bias_variance,
        l1_sparsity,
        sign_updates,
        dropout,
        rnn_long_range,
        rnn_exploding_clip,
        rnn_identity_init,
        glorot_gradients,
        mse_vs_cross_entropy,
        dynamical_isometry,
        he_init_depth,
        trainable_depth,
        degradation,
    )
}


def verdict_markdown(study: Study, verdict: Verdict) -> str:
    published = []
    if study.paper is not None:
        paper = study.paper
        published = [
            f"**Published** ({paper.reference}, {paper.where}): {paper.published}.",
            "",
        ]
    return "\n".join(
        [
            f"## {study.name}: {verdict.outcome}",
            "",
            f"**Claim** ({study.source}): {study.claim}.",
            "",
            *published,
            f"**Rule**: {study.rule}.",
            "",
            f"**Measured**: {verdict.measured}.",
            "",
            verdict.rows.to_markdown(index=False),
            "",
        ]
    )


def by_group() -> dict[str, list[Study]]:
    """The studies by where their claims come from: the tutorials first, then the papers."""
    groups: dict[str, list[Study]] = {"the tutorials": [], "the papers": []}
    for study in STUDIES.values():
        groups[study.group].append(study)
    return groups


def write_verdict(runs: Runs, name: str, folder: Path) -> Verdict:
    """verdict.md and verdict.csv beside the sweep's report; the verdict is printed too."""
    study = STUDIES[name]
    frame = measurements(runs)
    verdict = study.judge(frame)
    folder.mkdir(parents=True, exist_ok=True)
    if study.figure is not None:
        study.figure(frame, folder / "figures")
    (folder / "verdict.md").write_text(verdict_markdown(study, verdict))
    verdict.rows.assign(study=name, outcome=verdict.outcome).to_csv(
        folder / "verdict.csv", index=False
    )
    print(f"\nstudy {name} — {study.claim} ({study.source})")
    print(f"verdict: {verdict.outcome.upper()} ({study.rule})\n  {verdict.measured}")
    return verdict
