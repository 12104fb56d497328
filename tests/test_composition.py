"""A job composed once per choice of groups, values applied on top, equals Hydra's own."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from hydra.types import RunMode
from omegaconf import OmegaConf

from vgx.config import conf_dir
from vgx.sweeps.composition import SweepComposer, register_configs
from vgx.sweeps.preflight import _JobComposer

JOBS = [
    ["seed=3", "regularizer.lam=0.01"],
    ["seed=4", "regularizer.lam=0.1"],
    ["regularizer=l2", "regularizer.lam=0.001", "seed=1"],
    ["seed=2", "regularizer=l2", "regularizer.lam=0.5"],
    ["activation=relu", "init=he_normal", "depth=20"],
    ["+study=dying_relu", "seed=5"],
    ["seed=6", "tracking.sweep_keys=[seed]", "tracking.parent_run_id=abc"],
    ["hydra.job.name=x", "seed=7"],
]


@pytest.fixture(scope="module")
def loader():
    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        yield GlobalHydra.instance().config_loader()


def _plain(cfg) -> dict:  # noqa: ANN001
    return OmegaConf.to_container(cfg, resolve=False)


def test_sweep_configs_equal_hydras(loader) -> None:  # noqa: ANN001
    master = loader.load_configuration(
        "config", overrides=["seed=0,1", "regularizer.lam=0,0.1"], run_mode=RunMode.MULTIRUN
    )
    composer = SweepComposer(loader)
    for job in JOBS * 2:  # the second pass comes from the cache
        ours = composer.load_sweep_config(master, job)
        theirs = loader.load_sweep_config(master, job)
        assert _plain(ours) == _plain(theirs), job
    assert len(composer._bases) < len(JOBS)  # jobs that differ only in values share a base


def test_a_bad_value_fails_as_in_hydra(loader) -> None:  # noqa: ANN001
    master = loader.load_configuration("config", overrides=[], run_mode=RunMode.MULTIRUN)
    composer = SweepComposer(loader)
    composer.load_sweep_config(master, ["depth=3"])
    for bad in (["depth=abc"], ["no_such_key=1"], ["regularizer.lam=[1,2]"]):
        with pytest.raises(ConfigCompositionException) as ours:
            composer.load_sweep_config(master, bad)
        with pytest.raises(ConfigCompositionException) as theirs:
            loader.load_sweep_config(master, bad)
        assert str(ours.value) == str(theirs.value)


def test_the_command_line_check_composes_as_compose_does(loader) -> None:  # noqa: ANN001
    composer = _JobComposer("config")
    for job in JOBS[:-1] * 2:
        assert _plain(composer(job)) == _plain(compose("config", overrides=job)), job


def test_the_launcher_gets_the_config_the_sweeper_checked(loader) -> None:  # noqa: ANN001
    master = loader.load_configuration("config", overrides=[], run_mode=RunMode.MULTIRUN)
    composer = SweepComposer(loader)
    checked = composer.load_sweep_config(master, ["seed=3"])  # the sweeper's check
    assert composer.load_sweep_config(master, ["seed=3"]) is checked  # the launcher's
    again = composer.load_sweep_config(master, ["seed=3"])
    assert again is not checked and _plain(again) == _plain(checked)


def test_a_repeated_job_gets_a_config_of_its_own(loader, tmp_path) -> None:  # noqa: ANN001
    from types import SimpleNamespace

    from vgx.sweeps.batched import _load_jobs

    master = loader.load_configuration(
        "config", overrides=[f"hydra.sweep.dir={tmp_path}"], run_mode=RunMode.MULTIRUN
    )
    context = SimpleNamespace(config_loader=SweepComposer(loader))
    for job in (["seed=3"], ["seed=3"]):  # the sweeper's check of a sweep with seed=3,3
        context.config_loader.load_sweep_config(master, job)
    first, second = _load_jobs(master, context, [["seed=3"], ["seed=3"]], 0)
    assert first.hydra_cfg is not second.hydra_cfg
    assert (first.hydra_cfg.hydra.job.num, second.hydra_cfg.hydra.job.num) == (0, 1)
    assert first.output_dir != second.output_dir


def _loaded(loader, tmp_path, jobs: list[list[str]]):  # noqa: ANN001, ANN202
    from types import SimpleNamespace

    from vgx.sweeps.batched import _load_jobs

    master = loader.load_configuration(
        "config", overrides=[f"hydra.sweep.dir={tmp_path}"], run_mode=RunMode.MULTIRUN
    )
    context = SimpleNamespace(config_loader=SweepComposer(loader))
    return _load_jobs(master, context, jobs, 0)


def test_each_job_gets_the_task_config_hydra_would_give(loader, tmp_path) -> None:  # noqa: ANN001
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict, read_write

    jobs = _loaded(loader, tmp_path, JOBS)
    for job in jobs:
        theirs = copy.deepcopy(job.hydra_cfg)  # what Hydra's run_job does
        with read_write(theirs), open_dict(theirs):
            del theirs["hydra"]
        assert _plain(job.task_cfg) == _plain(theirs)
        assert OmegaConf.is_struct(job.task_cfg) == OmegaConf.is_struct(theirs)
    assert HydraConfig.get().job.num == len(JOBS) - 1  # left as Hydra's launchers leave it


def test_an_interpolation_of_hydras_config_resolves_per_job(loader, tmp_path) -> None:  # noqa: ANN001
    jobs = [[f"seed={seed}", "tracking.experiment=job${hydra:job.num}"] for seed in (4, 5, 6)]
    loaded = _loaded(loader, tmp_path, jobs)
    assert [job.resolved["tracking"]["experiment"] for job in loaded] == ["job0", "job1", "job2"]
    assert [job.cfg.tracking.experiment for job in loaded] == ["job0", "job1", "job2"]


@pytest.mark.parametrize(
    "folder",
    [
        [],  # Hydra's default: the sweep's folder of ${now:…}, the job's number below it
        ["hydra.sweep.subdir=${hydra.job.override_dirname}"],
        ["hydra.sweep.dir=DIR/${hydra.job.override_dirname}", "hydra.sweep.subdir=x"],
    ],
)
def test_each_job_gets_the_folder_hydra_resolves(loader, tmp_path, folder) -> None:  # noqa: ANN001
    from types import SimpleNamespace

    from vgx.sweeps.batched import _load_jobs

    folder = [line.replace("DIR", str(tmp_path)) for line in folder]
    master = loader.load_configuration(
        "config", overrides=[f"hydra.sweep.dir={tmp_path}", *folder], run_mode=RunMode.MULTIRUN
    )
    jobs = [[*folder, f"seed={seed}"] for seed in (4, 5)]
    context = SimpleNamespace(config_loader=SweepComposer(loader))
    loaded = _load_jobs(master, context, jobs, 0)
    for job in loaded:
        sweep = job.hydra_cfg.hydra.sweep
        assert job.output_dir == (Path(str(sweep.dir)) / str(sweep.subdir)).absolute()
    assert loaded[0].output_dir != loaded[1].output_dir


def test_values_every_job_carries_are_applied_once_per_base(loader) -> None:  # noqa: ANN001
    master = loader.load_configuration("config", overrides=[], run_mode=RunMode.MULTIRUN)
    composer = SweepComposer(loader)
    handed = ["tracking.parent_run_id=abc", "tracking.sweep_keys=[seed]"]
    for seed in range(3):
        job = [f"seed={seed}", *handed]
        ours = composer.load_sweep_config(master, job)
        assert _plain(ours) == _plain(loader.load_sweep_config(master, job))
        assert _plain(composer.task_config(job)) == _plain(compose("config", overrides=job))
    assert list(composer._bases) == [tuple(handed)]


@pytest.mark.parametrize(
    "lines",
    [
        ["tracking.parent_run_id=abc"],  # neither the base nor the values
        ["tracking.parent_run_id=abc", "tracking.experiment=job${hydra:job.num}"],  # a value
        ["tracking.parent_run_id=${hydra:job.name}"],  # the base, made once for all the jobs
    ],
)
def test_whether_a_job_refers_to_hydras_config_is_known_from_its_base_and_values(
    loader,  # noqa: ANN001
    lines,
) -> None:
    from vgx.sweeps.composition import refers_to_hydra

    master = loader.load_configuration("config", overrides=[], run_mode=RunMode.MULTIRUN)
    composer = SweepComposer(loader)
    for seed in range(2):
        job = [f"seed={seed}", *lines]
        composer.load_sweep_config(master, job)
        expected = refers_to_hydra(composer.task_config(job))
        assert composer.task_refers_to_hydra(job) is expected
    assert expected is any("${hydra" in line for line in lines)
