"""Check every job of a command line before Hydra starts any: one bad value in a 100-run sweep is
refused up front, with one line, instead of failing run 37 after an hour."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vgx.errors import ConfigError


@dataclass
class Plan:
    """What a `vgx train` command line will do, known before Hydra starts."""

    multirun: bool = False
    jobs_checked: int = 0
    sweep_keys: list[str] = field(default_factory=list)  # keys given several values, in order
    overrides: list[str] = field(default_factory=list)  # the user's overrides, Hydra's excluded
    first: object = None  # the first job's TrainConfig (tracking store, experiment)


def sweep_keys(overrides: list[str]) -> list[str]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    return [o.get_key_element().lstrip("+~") for o in parsed if o.is_sweep_override()]


def _job_overrides(overrides: list[str]) -> Iterator[list[str]]:
    """The override lists of a multirun's jobs (interval sweeps are left to the sweeper)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    options: list[list[str]] = []
    for override in parsed:
        if override.is_sweep_override():
            if override.is_interval_sweep():
                continue
            key = override.get_key_element()
            values = [f"{key}={v}" for v in override.sweep_string_iterator()]
            if not values:
                raise ConfigError(key, override.input_line, "a sweep with at least one value")
            options.append(values)
        else:
            options.append([override.input_line])
    # every combination: a value can be wrong only beside another (a split too small for a
    # sample count), so checking each value alone would miss it
    yield from (list(job) for job in itertools.product(*options))


class _JobComposer:
    """Hydra's compose() of a job, done once per choice of config groups (vgx/composition.py)."""

    def __init__(self, config_name: str) -> None:
        from hydra.core.global_hydra import GlobalHydra

        from vgx.sweeps.composition import group_names

        self.config_name = config_name
        self.groups = group_names(GlobalHydra.instance().config_loader())
        self.bases: dict[tuple[str, ...], object] = {}

    def __call__(self, job: list[str]):  # noqa: ANN204 - a DictConfig
        from hydra import compose

        from vgx.sweeps.composition import from_base

        derived = from_base(
            job, self.groups, self.bases, lambda lines: compose(self.config_name, overrides=lines)
        )
        if derived is not None:
            return derived.config
        return compose(config_name=self.config_name, overrides=job)


# The jobs this process has validated: their task need not validate them again.
_checked: set[tuple[str, ...]] = set()


def _job_key(overrides: list[str]) -> tuple[str, ...]:
    return tuple(
        sorted(o for o in overrides if not o.lstrip("+~").startswith(("hydra", "tracking.")))
    )


def was_checked(job_overrides: list[str]) -> bool:
    """Whether `check_command_line` validated this job here already (Hydra hands a job its
    overrides with the sweep's bookkeeping ones added)."""
    return _job_key(job_overrides) in _checked


def check_command_line(args: list[str], config_dir: Path) -> Plan:
    """Compose and validate each job of `vgx train ARGS` (sweeps expanded) before any runs: a
    refused command line creates nothing, not even Hydra's output folder."""
    from hydra import initialize_config_dir
    from hydra._internal.utils import get_args_parser
    from omegaconf import OmegaConf

    from vgx.config import validate
    from vgx.sweeps.composition import register_configs

    register_configs()
    parsed = get_args_parser().parse_args(args)
    if parsed.help or parsed.hydra_help or parsed.cfg or parsed.info or parsed.shell_completion:
        return Plan()
    overrides = [o for o in parsed.overrides if not o.lstrip("+~").startswith("hydra")]
    plan = Plan(multirun=parsed.multirun, overrides=overrides)
    if parsed.multirun:
        plan.sweep_keys = sweep_keys(overrides)
    jobs = _job_overrides(overrides) if parsed.multirun else iter([overrides])
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        compose_job = _JobComposer(parsed.config_name or "config")
        for job in jobs:
            composed = compose_job(job)
            _refuse_unknown_keys(composed)
            cfg = OmegaConf.to_object(composed)
            validate(cfg)
            _checked.add(_job_key(job))
            plan.first = plan.first or cfg
            plan.jobs_checked += 1
        first = next(_job_overrides(overrides) if parsed.multirun else iter([overrides]))
        _check_hydra(parsed.config_name or "config", parsed, first)
    _check_device(plan.first)
    from vgx.store.tracking import check_reachable, check_store, tracking_uri

    uri = tracking_uri(plan.first.tracking.uri)
    check_store(uri)
    check_reachable(uri)  # a server that is down or frozen: one line before anything trains
    return plan


def _refuse_unknown_keys(composed) -> None:  # noqa: ANN001 - a DictConfig
    """A key the schema does not have (`+foo=1` adds one; OmegaConf would drop it silently)."""
    import dataclasses

    from omegaconf import DictConfig

    from vgx.config import TrainConfig

    def walk(node: DictConfig, schema: type, prefix: str) -> None:
        fields = {f.name: f for f in dataclasses.fields(schema)}
        for key in node:
            name = f"{prefix}{key}"
            if key not in fields:
                raise ConfigError(
                    name, node[key], "a key of the config; `vgx train --cfg job` lists them"
                )
            factory = fields[key].default_factory  # a group's dataclass, else MISSING
            if isinstance(node._get_node(key), DictConfig) and dataclasses.is_dataclass(factory):
                walk(node[key], factory, name + ".")

    walk(composed, TrainConfig, "")


def _check_device(cfg) -> None:  # noqa: ANN001 - a TrainConfig
    """`device=cuda` on a torch without a CUDA device: one line before anything starts."""
    if cfg.device != "cuda":
        return
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(
            "device",
            "cuda",
            "auto or cpu: this torch sees no CUDA device (torch.cuda.is_available())",
        )


def _check_hydra(config_name: str, parsed, first_job: list[str]) -> None:  # noqa: ANN001
    """Hydra's own choices (a launcher, a sweeper) and the output folder, checked before the
    sweep's parent run is made: a refused command line leaves nothing in the store."""
    import hydra.core.utils  # noqa: F401 - registers the ${now:…} resolver
    from hydra import compose
    from omegaconf import OmegaConf

    from vgx.store.tracking import why_not_creatable

    hydra_overrides = [o for o in parsed.overrides if o.lstrip("+~").startswith("hydra")]
    cfg = compose(config_name, overrides=first_job + hydra_overrides, return_hydra_config=True)
    if str(OmegaConf.select(cfg, "hydra.launcher._target_")).endswith(".BatchedLauncher"):
        _check_batched(cfg.hydra.launcher)
    key = "hydra.sweep.dir" if parsed.multirun else "hydra.run.dir"
    try:
        folder = Path(str(OmegaConf.select(cfg, key)))
    except Exception:  # noqa: BLE001 - an interpolation only a running Hydra can resolve
        return
    reason = why_not_creatable(folder)
    if reason is not None:
        raise ConfigError(key, str(folder), f"a folder vgx can create (cannot create it: {reason})")


def _check_batched(launcher) -> None:  # noqa: ANN001 - hydra.launcher's DictConfig
    """The batched launcher's own keys: an executor it has, counts that can be."""
    from vgx.sweeps.batched import EXECUTORS
    from vgx.sweeps.cluster import CLUSTERS

    if launcher.executor not in EXECUTORS:
        raise ConfigError("hydra.launcher.executor", launcher.executor, " or ".join(EXECUTORS))
    for key in ("max_batch", "memory_budget_mb", "workers"):
        value = launcher[key]
        if value is not None and value < 1:
            raise ConfigError(f"hydra.launcher.{key}", value, "a whole number of at least 1")
    if launcher.submitit.cluster not in CLUSTERS:
        raise ConfigError(
            "hydra.launcher.submitit.cluster", launcher.submitit.cluster, ", ".join(CLUSTERS)
        )


def _first_line(text: str) -> str:
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


def hydra_line(exc: BaseException) -> str | None:
    """The user-facing line for a mistake Hydra or OmegaConf found in a command line (an unknown
    group option or key, a wrong type, an override that does not parse), or None."""
    from hydra.errors import HydraException, MissingConfigException, OverrideParseException
    from omegaconf.errors import (
        ConfigAttributeError,
        ConfigKeyError,
        OmegaConfBaseException,
        ValidationError,
    )

    if isinstance(exc, MissingConfigException) and exc.options is not None:
        group, _, name = (exc.missing_cfg_file or "").rpartition("/")
        allowed = ", ".join(sorted(exc.options))
        return f"{group}={name!r}: unknown {group}; expected one of {allowed}"
    if isinstance(exc, OverrideParseException):
        return f"{exc.override!r}: not a valid override ({_first_line(exc.message)})"
    cause = exc if isinstance(exc, OmegaConfBaseException) else exc.__cause__
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and cause.full_key:
        return (
            f"{cause.full_key}: unknown config key; `vgx train --cfg job` lists the keys that exist"
        )
    if isinstance(cause, ValidationError) and cause.full_key:
        return f"{cause.full_key}={cause.value!r}: not allowed; {_first_line(cause.msg)}"
    if isinstance(exc, HydraException):
        return _first_line(str(exc))
    return None
