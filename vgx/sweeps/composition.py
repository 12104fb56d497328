"""A sweep's job configs: one Hydra composition per distinct choice of config groups, each job's
plain values applied on top of it the way Hydra applies them.

Hydra composes every job of a sweep from scratch (~0.2 s here), and a batched sweep did it three
times per job: vgx's check of the command line, the sweeper's own check, the launcher. For 64
jobs that was ~36 s, four times the stacked training. Jobs that differ only in values
(`seed=3 regularizer.lam=0.01`) share everything else: composed once, copied, and given their
values with Hydra's own override function, they come out equal to Hydra's (tested).
"""

from __future__ import annotations

import copy
import functools
import gc
import pickle
from collections.abc import Sequence
from dataclasses import dataclass


def group_names(loader) -> set[str]:  # noqa: ANN001 - Hydra's ConfigLoader
    """Every config group (`activation`, `hydra/launcher`, ...): an override of one chooses a
    config, it does not set a value."""

    def walk(parent: str):
        for name in loader.list_groups(parent):
            full = f"{parent}/{name}" if parent else name
            yield full
            yield from walk(full)

    return set(walk(""))


def split_overrides(lines: Sequence[str], base, groups: set[str]) -> tuple[list, list] | None:  # noqa: ANN001
    """(the overrides that choose configs, the plain `key=value` ones) for `lines`, or None when
    a value's key is not a plain value in `base` (then Hydra composes the job and says why).
    With no `base` yet, only the split."""
    from omegaconf import DictConfig, OmegaConf

    structural, values = [], []
    for override in map(_parsed, lines):
        key = override.key_or_group
        plain = not (
            override.is_add()
            or override.is_force_add()
            or override.is_delete()
            or override.is_sweep_override()
            or override.package is not None
            or override.is_hydra_override()
            or key in groups
        )
        (values if plain else structural).append(override)
    for override in values if base is not None else []:
        found = OmegaConf.select(
            base, override.key_or_group, throw_on_missing=False, default=KeyError
        )
        if found is KeyError or isinstance(found, DictConfig):  # a list is a value
            return None
    return structural, values


@functools.lru_cache(maxsize=4096)
def _parsed(line: str):  # noqa: ANN202 - Hydra's Override, treated as read-only
    """One override line parsed by Hydra's grammar, once: a sweep's jobs repeat most of their
    lines (the launcher, the parent run, `regularizer=l2`) and each parse costs ~2 ms."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides([line])[0]


def apply_values(cfg, values: list) -> None:  # noqa: ANN001
    """Hydra's own application of command-line values to a composed config (same checks, same
    errors)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    ConfigLoaderImpl._apply_overrides_to_config(values, cfg)


@dataclass
class Derived:
    """A job's config made from a cached base: what the base is, and what was applied on it."""

    config: object  # DictConfig
    overrides: list  # all its parsed overrides (the base's, then the values)
    base_key: tuple[str, ...]
    values: list  # the parsed values applied on the base


def from_base(lines: Sequence[str], groups: set[str], bases: dict, compose) -> Derived | None:  # noqa: ANN001
    """A copy of the cached composition of the job's group choices and sweep-wide values
    (`compose(lines)` makes one), given its own values; None when a value is not plain."""
    parts = split_overrides(lines, None, groups)
    if parts is None:
        return None
    shared = [o for o in parts[1] if o.input_line.startswith(SWEEP_WIDE)]
    in_base = {o.input_line for o in [*parts[0], *shared]}
    base_key = tuple(line for line in lines if line in in_base)  # in the job's order
    if base_key not in bases:
        base = compose(list(base_key))
        bases[base_key] = (base, pickle.dumps(base))
    base, frozen = bases[base_key]
    parts = split_overrides(lines, base, groups)
    if parts is None:
        return None
    values = [o for o in parts[1] if not o.input_line.startswith(SWEEP_WIDE)]
    cfg = pickle.loads(frozen)  # a deep copy: a quarter of copy.deepcopy's time (~1 ms, not 4)
    apply_values(cfg, values)
    return Derived(cfg, [*parts[0], *shared, *values], base_key, values)


# Values every job of a sweep carries alike (the sweep hands them to each: its parent run, its
# keys): composed into the shared base, once. Applied to each job, the list of keys alone cost
# ~2 ms a job (OmegaConf checks a list's items one by one).
SWEEP_WIDE = ("tracking.parent_run_id=", "tracking.sweep_keys=")


def task_part(config):  # noqa: ANN001, ANN201 - a DictConfig
    """The job's config as a task function receives it: Hydra deep-copies the whole config, then
    drops `hydra`; copying all but that large node is a fifth of the time."""
    from omegaconf import OmegaConf, open_dict, read_write

    placeholder = OmegaConf.create({})  # deepcopy takes what its memo holds, and it is dropped
    skipped = {id(config._get_node("hydra")): placeholder}
    task_cfg = copy.deepcopy(config, memo=skipped)
    with read_write(task_cfg), open_dict(task_cfg):
        del task_cfg["hydra"]
    return task_cfg


class SweepComposer:
    """A Hydra ConfigLoader whose `load_sweep_config` composes once per choice of groups."""

    def __init__(self, loader) -> None:  # noqa: ANN001 - Hydra's ConfigLoader
        self._loader = loader
        self._bases: dict[tuple[str, ...], object] = {}
        self._groups: set[str] | None = None
        # Hydra's sweeper composes every job to check it and drops the result; the launcher then
        # asks for the same job: it gets the checked config instead of a second composition.
        self._checked: dict[tuple[str, ...], object] = {}
        # how each derived job was made (its base, its values), and each base without `hydra`
        self._recipes: dict[tuple[str, ...], tuple[tuple[str, ...], list]] = {}
        self._task_parts: dict[tuple[str, ...], bytes] = {}
        self._base_refers: dict[tuple[str, ...], bool] = {}  # a base's task part: ${hydra…}?

    def __getattr__(self, name: str):
        return getattr(self._loader, name)

    def load_sweep_config(self, master_config, sweep_overrides: Sequence[str]):  # noqa: ANN001
        key = tuple(sweep_overrides)
        if key in self._checked:
            return self._checked.pop(key)
        cfg = self._compose(master_config, sweep_overrides)
        self._checked[key] = cfg
        set_aside_from_collection()
        return cfg

    def task_config(self, sweep_overrides: Sequence[str]):  # noqa: ANN201 - a DictConfig
        """The job's config without `hydra` (what its task receives), as a copy of its base's
        task part given its values: a third of the time of copying its whole config without
        `hydra`. None for a job composed by Hydra in full."""
        recipe = self._recipes.get(tuple(sweep_overrides))
        if recipe is None:
            return None
        base_key, values = recipe
        if base_key not in self._task_parts:
            part = task_part(self._bases[base_key][0])
            self._task_parts[base_key] = pickle.dumps(part)
            self._base_refers[base_key] = refers_to_hydra(part)
        cfg = pickle.loads(self._task_parts[base_key])
        apply_values(cfg, values)
        return cfg

    def task_refers_to_hydra(self, sweep_overrides: Sequence[str]) -> bool | None:
        """Whether the job's task config interpolates Hydra's own config, from its base (looked
        at once) and its values; None for a job `task_config` did not make."""
        recipe = self._recipes.get(tuple(sweep_overrides))
        if recipe is None or recipe[0] not in self._base_refers:
            return None
        base_key, values = recipe
        return self._base_refers[base_key] or any(HYDRA_REFERENCE in o.input_line for o in values)

    def _compose(self, master_config, sweep_overrides: Sequence[str]):  # noqa: ANN001, ANN202
        from hydra._internal.config_loader_impl import get_overrides_dirname
        from omegaconf import OmegaConf

        if self._groups is None:
            self._groups = group_names(self._loader)
        derived = from_base(
            sweep_overrides,
            self._groups,
            self._bases,
            lambda lines: self._loader.load_sweep_config(master_config, lines),
        )
        if derived is None:
            return self._loader.load_sweep_config(master_config, list(sweep_overrides))
        self._recipes[tuple(sweep_overrides)] = (derived.base_key, derived.values)
        cfg = derived.config
        app = [o for o in derived.overrides if not o.is_hydra_override()]
        order = {line: i for i, line in enumerate(sweep_overrides)}
        app.sort(key=lambda o: order[o.input_line])
        dirname = cfg.hydra.job.config.override_dirname
        cfg.hydra.overrides.task = [o.input_line for o in app]
        cfg.hydra.job.override_dirname = get_overrides_dirname(
            overrides=app,
            kv_sep=dirname.kv_sep,
            item_sep=dirname.item_sep,
            exclude_keys=dirname.exclude_keys,
        )
        OmegaConf.copy_cache(from_config=master_config, to_config=cfg)
        return cfg


HYDRA_REFERENCE = "${hydra"


def refers_to_hydra(config) -> bool:  # noqa: ANN001 - a DictConfig
    """Whether a value of the config is an interpolation of Hydra's own config."""
    from omegaconf import OmegaConf

    return HYDRA_REFERENCE in repr(OmegaConf.to_container(config, resolve=False))


def set_aside_from_collection() -> None:
    """The configs made so far live on (a job's config until its launch, its run's settings
    after): Python's cycle collector went through all of them again and again as more were
    made, half the sweeper's check of 1,000 jobs. Frozen, it leaves them alone; the launcher
    gives them back (`return_to_collection`) once every job's config is made."""
    gc.freeze()


def return_to_collection() -> None:
    gc.unfreeze()


def register_configs() -> None:
    """Put the schema in Hydra's ConfigStore so that conf/config.yaml can extend it."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    from vgx.config import TrainConfig

    store.store(name="vgx_schema", node=TrainConfig)
