"""The sizes a sweep plans its stacks from, known without torch, against the data and networks
torch builds."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import compose_config
from vgx.config import dataset_classes, model_features, split_sizes
from vgx.core.data import load
from vgx.core.models import model_inputs
from vgx.core.network import Architecture
from vgx.core.recurrent import RecurrentArchitecture


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["dataset=digits"],
        ["dataset=blobs", "dataset.n_classes=4", "dataset.split=[0.5,0.3,0.2]"],
        ["dataset=adding", "dataset.length=12"],
        ["dataset=temporal_order", "model=lstm"],
        ["dataset=mnist1d", "dataset.n_samples=300"],
        ["dataset=mnist1d", "dataset.n_samples=300", "model=gru", "depth=2"],
        ["dataset=adding", "model=rnn", "dataset.n_samples=101"],
    ],
)
def test_the_planned_sizes_are_those_of_the_loaded_data(overrides) -> None:
    cfg = compose_config(["progress=false", *overrides])[0]
    splits = model_inputs(cfg, load(cfg.dataset))
    assert model_features(cfg) == splits.n_features
    assert dataset_classes(cfg.dataset) == splits.n_classes
    assert split_sizes(cfg.dataset) == (len(splits.y_train), len(splits.y_val), len(splits.y_test))


def test_a_recurrent_row_has_the_segments_of_its_parameters() -> None:
    arch = RecurrentArchitecture("lstm", n_in=3, n_out=4, depth=2, width=5)
    assert arch.segments() == [(20, 3), (20, 5), (20, 5), (20, 5), (4, 5), (20,), (20,), (4,)]
    assert Architecture(n_in=2, n_out=1, depth=3, width=10, activation="relu").dims == [
        2,
        10,
        10,
        1,
    ]


def test_a_sweeps_process_plans_its_stacks_without_importing_torch() -> None:
    # the sweep's process hands stacks to workers that import torch themselves: planning
    # them must not cost it torch's import first
    code = (
        "import dataclasses, sys\n"
        "from tests.conftest import compose_config\n"
        "from vgx.sweeps.batched import plan_chunks\n"
        "first = compose_config(['progress=false'])[0]\n"
        "cfgs = [dataclasses.replace(first, seed=s) for s in range(300)]\n"
        "cfgs += [compose_config(['progress=false', 'dataset=adding', 'model=lstm'])[0]]\n"
        "chunks = plan_chunks(cfgs, max_batch=128, budget_bytes=2**40, workers=2)\n"
        "print(sorted(map(len, chunks)), 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split("]")[-1].strip() == "False"
    assert done.stdout.startswith("[1, 44, 64, 64, 128]")  # 300 + 1, staggered
