"""A sweep's job configs: one Hydra composition per distinct choice of config groups, each job's
plain values applied on top of it the way Hydra applies them.

Hydra composes every job of a sweep from scratch (~0.2 s here), and a batched sweep did it three
times per job: vgx's check of the command line, the sweeper's own check, the launcher. For 64
jobs that was ~36 s, four times the stacked training. Jobs that differ only in values
(`seed=3 regularizer.lam=0.01`) share everything else: composed once, copied, and given their
values with Hydra's own override function, they come out equal to Hydra's (tested).
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Sequence


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


def from_base(lines: Sequence[str], groups: set[str], bases: dict, compose) -> tuple | None:  # noqa: ANN001
    """(the job's config, its parsed overrides): a copy of the cached composition of its group
    choices (`compose(lines)` makes one), given its values; None when a value is not plain."""
    parts = split_overrides(lines, None, groups)
    if parts is None:
        return None
    structural = tuple(o.input_line for o in parts[0])
    if structural not in bases:
        base = compose(list(structural))
        bases[structural] = (base, pickle.dumps(base))
    base, frozen = bases[structural]
    parts = split_overrides(lines, base, groups)
    if parts is None:
        return None
    cfg = pickle.loads(frozen)  # a deep copy: a quarter of copy.deepcopy's time (~1 ms, not 4)
    apply_values(cfg, parts[1])
    return cfg, [*parts[0], *parts[1]]


class SweepComposer:
    """A Hydra ConfigLoader whose `load_sweep_config` composes once per choice of groups."""

    def __init__(self, loader) -> None:  # noqa: ANN001 - Hydra's ConfigLoader
        self._loader = loader
        self._bases: dict[tuple[str, ...], object] = {}
        self._groups: set[str] | None = None
        # Hydra's sweeper composes every job to check it and drops the result; the launcher then
        # asks for the same job: it gets the checked config instead of a second composition.
        self._checked: dict[tuple[str, ...], object] = {}

    def __getattr__(self, name: str):
        return getattr(self._loader, name)

    def load_sweep_config(self, master_config, sweep_overrides: Sequence[str]):  # noqa: ANN001
        key = tuple(sweep_overrides)
        if key in self._checked:
            return self._checked.pop(key)
        cfg = self._compose(master_config, sweep_overrides)
        self._checked[key] = cfg
        return cfg

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
        cfg, overrides = derived
        app = [o for o in overrides if not o.is_hydra_override()]
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


def register_configs() -> None:
    """Put the schema in Hydra's ConfigStore so that conf/config.yaml can extend it."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    from vgx.config import TrainConfig

    store.store(name="vgx_schema", node=TrainConfig)
