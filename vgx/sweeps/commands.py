"""`vgx train` and `vgx study`: the Hydra app, its task (one job: train and record a run), and
a sweep under its parent run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from vgx.config import RECURRENT_MODELS, conf_dir
from vgx.errors import EXIT_USER_ERROR, UsageError

# Set by a command after which nothing but this process is left to finish (one `vgx train` run,
# a batched sweep): `vgx.cli.run()` may then skip the interpreter's teardown. Other launchers
# may leave worker processes (joblib's) whose clean shutdown happens at normal exit.
exit_fast = False


def _task(cfg) -> float:  # noqa: ANN001 - Hydra passes a DictConfig
    """The Hydra task: one run; returns the final validation loss (a sweeper's objective)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from vgx.config import validate
    from vgx.errors import Interrupted, JobRefused, one_line
    from vgx.sweeps.preflight import was_checked

    hydra_cfg = HydraConfig.get()
    config = OmegaConf.to_object(cfg)
    if not was_checked(list(hydra_cfg.overrides.task)):  # a sweeper's sample, another process
        validate(config)  # before the heavy imports: a mistake costs a second, not five

    from vgx.store.tracking import tracking_uri
    from vgx.sweeps.identity import sweep_run_name
    from vgx.sweeps.job import run_experiment
    from vgx.sweeps.progress import sweep
    from vgx.sweeps.summary import summary

    resolved = OmegaConf.to_container(cfg, resolve=True)
    output_dir = Path(hydra_cfg.runtime.output_dir)
    overrides = list(hydra_cfg.overrides.task)
    name = sweep_run_name(config.tracking.sweep_keys, overrides)
    uri = tracking_uri(config.tracking.uri)
    try:
        outcome = run_experiment(config, resolved, output_dir, uri, name=name, overrides=overrides)
    except Exception as exc:
        line = one_line(exc)
        if line is None:
            raise
        raise JobRefused(line) from exc
    sweep().done()
    sweep().write(summary(outcome, config))
    if outcome.result is not None and outcome.result.status == "interrupted":
        raise Interrupted(outcome.run_name)
    return outcome.val_loss


def train_command(args: list[str]) -> int:
    from vgx.store.recording import start_background
    from vgx.sweeps.preflight import check_command_line

    # runs trained in this process record in a recording process, which imports MLflow from now,
    # beside the command-line check and torch here
    start_background()
    plan = check_command_line(args, conf_dir())
    app = _hydra_app()
    if not plan.multirun:
        global exit_fast
        sys.argv = ["vgx train", *args]
        app()
        exit_fast = True
        return 0
    from vgx.sweeps.sweep import run_sweep

    run_sweep(app, args, plan)
    _exit_fast_after_batched_sweep()
    return 0


def _exit_fast_after_batched_sweep() -> None:
    """The batched launcher has shut its workers down when the sweep returns: nothing is left for
    the interpreter's teardown to wait for (a joblib or Ray launcher may leave workers that do)."""
    global exit_fast
    from hydra.core.hydra_config import HydraConfig

    try:
        target = str(HydraConfig.get().launcher._target_)
    except ValueError:  # not set: the basic launcher resets it after each job
        return
    exit_fast = target.endswith(".BatchedLauncher")


def _hydra_app():
    import hydra

    from vgx.sweeps.composition import register_configs

    register_configs()
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises; main() prints the one line
    return hydra.main(config_path=str(conf_dir()), config_name="config", version_base="1.3")(_task)


def study_command(args: list[str]) -> int:
    """`vgx study NAME [OVERRIDES]`: the study's sweep, its report, and the verdict; several
    studies (NAME,NAME or --all) one after the other in this process."""
    from vgx.analysis.studies import STUDIES, by_group
    from vgx.sweeps.sweep import run_sweep

    if args and args[0] == "--names":  # one per line, for scripts
        print("\n".join(STUDIES))
        return 0
    if not args or args[0] in ("--list", "-l", "-h", "--help"):
        print("usage: vgx study NAME [OVERRIDES]   (overrides replace the study's values)")
        print("       vgx study NAME,NAME,… [OVERRIDES] or --all  (one after the other)")
        for group, studies in by_group().items():
            print(f"\nfrom {group}:")
            for study in studies:
                print(f"  {study.name:<22}{study.claim} ({study.source})")
                if study.paper is not None:
                    paper = study.paper
                    print(f"  {'':<22}published: {paper.published} ({paper.where})")
        return 0
    names = [*STUDIES] if args[0] == "--all" else args[0].split(",")
    overrides = args[1:]
    for name in names:
        if name not in STUDIES:
            raise UsageError(f"study {name!r}: unknown; expected one of {', '.join(STUDIES)}")
    from vgx.store.recording import start_background

    start_background()  # MLflow's import there, beside the command-line check here
    # every study's command line is checked before the first trains: a mistake costs a second
    plans = [(name, *_study_plan(name, overrides)) for name in names]
    # --all: one process for every study, importing torch and MLflow once (~6 s of a core a
    # study when each was its own command)
    from vgx.sweeps.sweep import LaterReports
    from vgx.sweeps.workers import shared_between_sweeps

    reports = LaterReports() if len(plans) > 1 else None  # written while the next one trains
    try:
        with shared_between_sweeps():  # and one pool of workers
            for number, (name, train_args, plan) in enumerate(plans, start=1):
                if len(plans) > 1:
                    print(f"vgx: study {number}/{len(plans)}: {name}", flush=True)
                run_sweep(_hydra_app(), train_args, plan, study=name, reports=reports)
    finally:
        if reports is not None:
            reports.wait()
    _exit_fast_after_batched_sweep()
    return 0


def _study_plan(name: str, overrides: list[str]) -> tuple[list[str], object]:
    """The study's `vgx train -m` arguments and their checked plan."""
    from omegaconf import OmegaConf

    from vgx.sweeps.preflight import check_command_line

    params = OmegaConf.load(conf_dir() / "study" / f"{name}.yaml").hydra.sweeper.params
    given = {o.partition("=")[0].lstrip("+~") for o in overrides if "=" in o}
    sweep = [f"{key}={value}" for key, value in params.items() if key not in given]
    experiment = [] if "tracking.experiment" in given else [f"tracking.experiment=study-{name}"]
    launcher = [] if "hydra/launcher" in given else ["hydra/launcher=batched"]
    train_args = ["-m", f"+study={name}", *launcher, *sweep, *experiment, *overrides]
    return train_args, check_command_line(train_args, conf_dir())


def theory_command(args: list[str]) -> int:
    """Mean-field prediction for a config, without training (Schoenholz et al. 2017)."""
    from vgx.analysis.theory import describe, predict_for_config, unsupported
    from vgx.sweeps.preflight import check_command_line

    if any(a.startswith("-") for a in args):
        print("usage: vgx theory [OVERRIDES]   e.g. vgx theory activation=tanh depth=20")
        return 0 if args[0] in ("-h", "--help") else EXIT_USER_ERROR
    cfg = check_command_line(args, conf_dir()).first
    if cfg.model.name in RECURRENT_MODELS:
        from vgx.analysis.recurrent_theory import describe_recurrent, predict_recurrent

        cell = f"{cfg.model.name} ({cfg.activation.name})" if cfg.model.name == "rnn" else ""
        print(
            f"Pascanu et al. 2013's conditions at initialisation for {cell or cfg.model.name}, "
            f"T = {cfg.dataset.length}, W_h {cfg.model.recurrent_init}:"
        )
        print(describe_recurrent(predict_recurrent(cfg), cfg))
        return 0
    if (why := unsupported(cfg)) is not None:
        raise UsageError(
            f"{why}: the mean-field prediction is for the plain network (norm=none, "
            "residual=false); train it and read delta_norm/layer_i instead"
        )
    print(f"mean-field prediction at initialisation for {cfg.activation.name}, {cfg.init.name}:")
    print(describe(predict_for_config(cfg), cfg.depth))
    return 0
