"""The config schema: one dataclass per group, registered in Hydra's ConfigStore.

Every default lives here, once; the YAML files under `conf/` only name the group options
that differ.
OmegaConf checks types and unknown keys; `validate` checks names and ranges, because OmegaConf has
no range checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from vgx.errors import ConfigError

POINT_DATASETS = ("moons", "circles", "xor", "spirals", "blobs")
SEQUENCE_DATASETS = ("adding", "temporal_order", "mnist1d")  # one input vector a time step
DATASETS = (*POINT_DATASETS, "digits", *SEQUENCE_DATASETS)
REGRESSION_DATASETS = ("adding",)  # a real-valued target: squared error, no accuracy
RECURRENT_MODELS = ("rnn", "lstm", "gru")
MODELS = ("mlp", *RECURRENT_MODELS)
RECURRENT_INITS = ("orthogonal", "identity", "normal", "init")
LOSSES = ("bce", "cross_entropy", "mse")
ACTIVATIONS = (
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "gelu",
    "selu",
    "softsign",
    "linear",
)
INITS = (
    "xavier_uniform",
    "xavier_normal",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "orthogonal",
    "normal",
    "uniform",
    "torch_default",
)
REGULARIZER_KINDS = ("none", "l1", "l2", "elastic")
NORMS = ("none", "batch", "layer")
CLIP_KINDS = ("none", "value", "norm")
OPTIMIZERS = ("gd", "sgd", "adam", "rmsprop", "sign", "rprop")
DEVICES = ("auto", "cpu", "cuda")
DIGITS_IMAGES = 1797  # scikit-learn's bundled digits set, whatever dataset.n_samples says

# Keys that say where or how a run is shown, not what it computes: left out of config_hash, never
# "varied keys" of a report, free to differ between the runs of a stack (but `device`).
BOOKKEEPING_KEYS = ("tracking", "progress", "resume", "device")

# MLflow stores vgx can write to: the embedded SQLite file, a tracking server, a database.
TRACKING_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")


@dataclass
class DatasetConfig:
    name: str = "moons"  # generator: moons, circles, xor, spirals, blobs, digits
    n_samples: int = 250  # examples drawn (digits always has its 1,797 bundled images)
    noise: float = 0.05  # std of the Gaussian noise the generator adds to each point
    n_classes: int = 3  # classes of `blobs` (the other sets fix their own)
    random_state: int = 42  # seeds the generator and the split; apart from `seed` on purpose
    split: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])  # train/val/test (seed 002)
    length: int = 50  # T, the time steps of a sequence task (adding, temporal_order, mnist1d)


@dataclass
class ModelConfig:
    name: str = "mlp"  # mlp (feed-forward), rnn (cell non-linearity from `activation`), lstm, gru
    # W_h's start: orthogonal, identity (Le et al. 2015's IRNN), normal (N(0, init.std²)), or
    # init (the `init` group's choice); W_x and the read-out always take the `init` group's
    recurrent_init: str = "orthogonal"
    spectral_radius: float | None = None  # rescale W_h to this spectral radius after init
    # added to an LSTM's forget-gate bias (Keras' unit_forget_bias, Gers et al. 2000): σ(1) ≈ 0.73
    # keeps the cell's memory from the start, where σ(0) = 0.5 halves it every step
    forget_bias: float = 1.0


@dataclass
class ActivationConfig:
    name: str = "sigmoid"  # hidden-layer non-linearity
    slope: float = 0.01  # negative-side slope of leaky_relu


@dataclass
class InitConfig:
    name: str = "xavier_uniform"  # weight initializer (Keras' default, as in seed 002)
    std: float = 1.0  # standard deviation of `normal` (seed 001's N(0,1))
    scale: float = 0.05  # half-width a of `uniform`: U(-a, a) (Keras' RandomUniform default)
    gain: float = 1.0  # multiplies the xavier and orthogonal initializers
    bias: float = 0.0  # constant every bias starts at (the norm's shift when norm != none)
    # std of normal noise added to every bias at the start: the σ_b of mean-field theory
    # (Schoenholz et al. 2017 train tanh nets with σ_b² = 0.05); 0: constant biases
    bias_std: float = 0.0


@dataclass
class RegularizerConfig:
    kind: str = "none"  # none, l1, l2, elastic: the weight penalty added to J
    lam: float = 0.0  # λ ≥ 0 of seed 003's (λ/2m)·Σ‖W‖²; m = training examples
    l1_ratio: float = 0.5  # elastic only: share of the L1 term, the rest is L2
    dropout: float = 0.0  # probability of zeroing a hidden unit while training, in [0, 1)


@dataclass
class ClipConfig:
    kind: str = "none"  # none, value (clamp each entry, seed 004), norm (rescale whole gradient)
    threshold: float = 1.0  # the clamp bound or the maximal total L2 norm


@dataclass
class OptimizerConfig:
    # gd (plain: w −= lr·g), sgd (with momentum), adam, rmsprop, sign (Δw = −lr·sign(g),
    # seed 004), rprop
    name: str = "adam"
    lr: float = 1e-3  # learning rate (Keras' Adam default)
    momentum: float = 0.0  # sgd and rmsprop only


@dataclass
class TrackingConfig:
    uri: str | None = None  # MLflow store; None: $MLFLOW_TRACKING_URI, else outputs/mlflow.db
    experiment: str = "vgx"  # MLflow experiment the run is filed under
    parent_run_id: str | None = None  # set by `vgx train -m` for every job: the sweep's parent run
    sweep_keys: list[str] = field(default_factory=list)  # the swept keys: they name child runs
    every: int = 1  # send MLflow every N-th epoch's metrics (always 0 and the last): smaller stores
    # a run's own figures: null = a single run's yes, a sweep child's no (`vgx report --run ID`)
    run_figures: bool | None = None


@dataclass
class TrainConfig:
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    # recurrent models: width = hidden units, depth = stacked recurrent layers
    depth: int = 9  # Linear layers, output included: 9 = 8 hidden layers + output (seed 002)
    width: int = 10  # units per hidden layer
    activation: ActivationConfig = field(default_factory=ActivationConfig)
    init: InitConfig = field(default_factory=InitConfig)
    regularizer: RegularizerConfig = field(default_factory=RegularizerConfig)
    norm: str = "none"  # none, batch, layer: Linear → norm → activation
    residual: bool = False  # skip connections around the equal-width hidden layers
    clip: ClipConfig = field(default_factory=ClipConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    # bce / cross_entropy (by the data set's classes), mse (squared error on the predicted
    # probabilities; on the output itself for a regression task); null: by the data set
    loss: str | None = None
    epochs: int = 100  # passes over the training set
    batch_size: int = 32  # examples per update (Keras' default)
    seed: int = 0  # seeds the initial weights, the data order and dropout
    device: str = "auto"  # auto (cuda when present), cpu, cuda
    progress: bool = True  # progress bar, shown only on a terminal
    resume: bool = True  # in a sweep, reuse a finished run with the same config_hash
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


# Keys that only some choices read: each is in force only where its group's choice reads it.
KEYS_READ_BY = {
    "activation.name": ("model.name", ("mlp", "rnn")),  # an LSTM's and a GRU's gates are fixed
    "activation.slope": ("activation.name", ("leaky_relu",)),
    "init.std": ("init.name", ("normal",)),
    "init.scale": ("init.name", ("uniform",)),
    "init.gain": ("init.name", ("xavier_uniform", "xavier_normal", "orthogonal")),
    "init.bias": ("init.name", tuple(i for i in INITS if i != "torch_default")),
    "init.bias_std": ("init.name", tuple(i for i in INITS if i != "torch_default")),
    "dataset.n_classes": ("dataset.name", ("blobs",)),
    "dataset.n_samples": ("dataset.name", tuple(d for d in DATASETS if d != "digits")),
    "dataset.noise": ("dataset.name", POINT_DATASETS),
    "dataset.length": ("dataset.name", SEQUENCE_DATASETS),
    "model.recurrent_init": ("model.name", RECURRENT_MODELS),
    "model.spectral_radius": ("model.name", RECURRENT_MODELS),
    "model.forget_bias": ("model.name", ("lstm",)),
    "norm": ("model.name", ("mlp",)),
    "residual": ("model.name", ("mlp",)),
    "regularizer.lam": ("regularizer.kind", ("l1", "l2", "elastic")),
    "regularizer.l1_ratio": ("regularizer.kind", ("elastic",)),
    "clip.threshold": ("clip.kind", ("value", "norm")),
    "optimizer.momentum": ("optimizer.name", ("sgd", "rmsprop")),
}


def keys_in_force(flat: dict[str, str]) -> dict[str, str]:
    """The flat config (dotted keys) without bookkeeping and without the keys its choices never
    read: what tells runs apart in MLflow's params and compare view (no `activation.slope` on a
    sigmoid net). The whole config stays in the run's config.yaml."""
    kept = {}
    for key, value in flat.items():
        if key.split(".")[0] in BOOKKEEPING_KEYS:
            continue
        reader = KEYS_READ_BY.get(key)
        if reader is not None and flat.get(reader[0]) not in reader[1]:
            continue
        kept[key] = value
    return kept


def conf_dir() -> Path:
    """The Hydra configs: shipped inside the package when installed, at the repo top otherwise."""
    packaged = Path(__file__).parent / "conf"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "conf"


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(key, value, "one of " + ", ".join(allowed))


def _at_least(key: str, value: float, low: float) -> None:
    if not value >= low:
        raise ConfigError(key, value, f"a number >= {low:g}")


def _positive(key: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(key, value, "a finite number > 0")


def _at_most(key: str, value: float, high: float, what: str) -> None:
    if not abs(value) <= high:
        raise ConfigError(key, value, what)


# Bounds that keep a config inside what training can compute (float32 weights, numpy's seeds).
SCALE_LIMIT = 1e6  # init.std, .scale, .gain, |init.bias|, activation.slope, dataset.noise
SEED_LIMIT = 2**63 - 1  # torch's generators take 64-bit seeds
RANDOM_STATE_LIMIT = 2**32 - 1  # numpy's RandomState (the data sets') takes 32-bit seeds
DEPTH_LIMIT = 5000  # deeper, one step takes minutes on a CPU and a signal waits for it
EXPERIMENT_NAME_LIMIT = 500  # MLflow refuses longer experiment names
LENGTH_LIMIT = 10_000  # dataset.length: time steps run one after another, each a Python step
STEP_FEATURES = {"adding": 2, "temporal_order": 6, "mnist1d": 1}  # inputs a time step
GATES = {"rnn": 1, "gru": 3, "lstm": 4}  # blocks of W_h: a plain cell, GRU's r z n, LSTM's i f g o


def input_shape(cfg: DatasetConfig) -> tuple[int, int]:
    """(time steps, inputs a step) of a data set: a feed-forward net reads the steps flat."""
    if cfg.name in SEQUENCE_DATASETS:
        return cfg.length, STEP_FEATURES[cfg.name]
    return 1, 64 if cfg.name == "digits" else 2


def example_count(cfg: DatasetConfig) -> int:
    """Examples a data set draws: `n_samples`, but for the bundled digits."""
    return DIGITS_IMAGES if cfg.name == "digits" else cfg.n_samples


def split_sizes(cfg: DatasetConfig) -> tuple[int, int, int]:
    """(train, val, test) examples, as vgx.core.data.load splits them."""
    n = example_count(cfg)
    n_train, n_val = round(cfg.split[0] * n), round(cfg.split[1] * n)
    return n_train, n_val, n - n_train - n_val


def dataset_classes(cfg: DatasetConfig) -> int:
    """Classes of a data set's target; 0 for a regression task."""
    fixed = {"digits": 10, "adding": 0, "temporal_order": 4, "mnist1d": 10}
    return cfg.n_classes if cfg.name == "blobs" else fixed.get(cfg.name, 2)


def run_bytes(cfg: TrainConfig, n_in: int, n_out: int, n_examples: int) -> int:
    """Bytes one run needs while it trains, roughly: its parameters with their gradients,
    optimizer state and snapshots (×8), and the activations of the largest pass (all examples,
    kept for backward: ×3), in float32. A recurrent model's `n_in` is its inputs a time step;
    it keeps every step's gate activations for backward."""
    if cfg.model.name in GATES:
        hidden = GATES[cfg.model.name] * cfg.width
        ins = [n_in] + [cfg.width] * (cfg.depth - 1)
        parameters = sum(hidden * (i + cfg.width + 1) for i in ins) + n_out * (cfg.width + 1)
        kept = cfg.dataset.length * cfg.depth * (hidden + 2 * cfg.width) + n_out
        return 4 * (8 * parameters + 3 * n_examples * kept)
    dims = [n_in] + [cfg.width] * (cfg.depth - 1) + [n_out]
    parameters = sum(a * b + 2 * b for a, b in zip(dims[:-1], dims[1:], strict=True))
    return 4 * (8 * parameters + 3 * n_examples * sum(dims))


def model_features(cfg: TrainConfig) -> int:
    """Inputs the model reads: a recurrent net's a time step, a feed-forward net's all the
    steps of a sequence side by side."""
    steps, features = input_shape(cfg.dataset)
    return features if cfg.model.name in GATES else steps * features


def memory_estimate(cfg: TrainConfig) -> int:
    """`run_bytes` before the data is loaded: its size from the config, ten outputs at most."""
    return run_bytes(cfg, model_features(cfg), 10, example_count(cfg.dataset))


def available_memory() -> int | None:
    """Bytes this machine can still give (MemAvailable), None where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _check_memory(cfg: TrainConfig) -> None:
    need, have = memory_estimate(cfg), available_memory()
    if have is not None and need > have:
        raise ConfigError(
            "width" if cfg.width > 1000 else "depth",
            cfg.width if cfg.width > 1000 else cfg.depth,
            f"a network that fits in memory: depth={cfg.depth} width={cfg.width} needs about "
            f"{need / 2**30:.1f} GiB, this machine has {have / 2**30:.1f} GiB available",
        )


def _check_model(cfg: TrainConfig) -> None:
    """A recurrent model reads a sequence task, and has no batch norm, skip or dropout here."""
    model = cfg.model
    _choice("model", model.name, MODELS)
    _choice("model.recurrent_init", model.recurrent_init, RECURRENT_INITS)
    if model.spectral_radius is not None:
        _positive("model.spectral_radius", model.spectral_radius)
        _at_most(
            "model.spectral_radius",
            model.spectral_radius,
            SCALE_LIMIT,
            f"null or a number in (0, {SCALE_LIMIT:g}]",
        )
    _at_most(
        "model.forget_bias",
        model.forget_bias,
        SCALE_LIMIT,
        f"a number in [-{SCALE_LIMIT:g}, {SCALE_LIMIT:g}]",
    )
    if model.name not in RECURRENT_MODELS:
        return
    if cfg.dataset.name not in SEQUENCE_DATASETS:
        allowed = f"a sequence task for model={model.name}: " + ", ".join(SEQUENCE_DATASETS)
        raise ConfigError("dataset", cfg.dataset.name, allowed)
    if cfg.norm != "none":
        allowed = f"none for model={model.name} (norms are feed-forward here)"
        raise ConfigError("norm", cfg.norm, allowed)
    if cfg.residual:
        allowed = f"false for model={model.name} (skips are feed-forward here)"
        raise ConfigError("residual", True, allowed)
    if cfg.regularizer.dropout:
        allowed = f"0 for model={model.name} (dropout is feed-forward here)"
        raise ConfigError("regularizer.dropout", cfg.regularizer.dropout, allowed)


def _check_loss(cfg: TrainConfig) -> None:
    """bce for two classes, cross_entropy for more, mse for either and for a regression task."""
    if cfg.loss is None:
        return
    _choice("loss", cfg.loss, LOSSES)
    classes = dataset_classes(cfg.dataset)
    fits = {"bce": classes == 2, "cross_entropy": classes > 2, "mse": True}
    if not fits[cfg.loss]:
        what = {0: "a regression task", 2: "two classes"}.get(classes, f"{classes} classes")
        usable = {0: "mse", 2: "bce or mse"}.get(classes, "cross_entropy or mse")
        raise ConfigError("loss", cfg.loss, f"{usable} for dataset={cfg.dataset.name} ({what})")


def validate(cfg: TrainConfig) -> None:
    """Refuse, before anything runs, every value the training could not honour."""
    _choice("dataset.name", cfg.dataset.name, DATASETS)
    _at_least("dataset.n_samples", cfg.dataset.n_samples, 10)
    _at_least("dataset.noise", cfg.dataset.noise, 0)
    _at_most("dataset.noise", cfg.dataset.noise, SCALE_LIMIT, f"a number in [0, {SCALE_LIMIT:g}]")
    if not 0 <= cfg.dataset.random_state <= RANDOM_STATE_LIMIT:
        allowed = f"a whole number in 0 … {RANDOM_STATE_LIMIT} (numpy's seeds)"
        raise ConfigError("dataset.random_state", cfg.dataset.random_state, allowed)
    _at_least("dataset.n_classes", cfg.dataset.n_classes, 2)
    split = list(cfg.dataset.split)
    if len(split) != 3 or any(not (f >= 0) for f in split) or abs(sum(split) - 1) > 1e-6:
        raise ConfigError(
            "dataset.split", split, "three fractions >= 0 (train, val, test) that sum to 1"
        )
    if split[0] == 0 or split[1] == 0:
        raise ConfigError("dataset.split", split, "a train and a val fraction > 0")
    n = example_count(cfg.dataset)
    n_train, n_val, _ = split_sizes(cfg.dataset)
    if n_train < 1 or n_val < 1:
        allowed = f"fractions that leave at least one training and one validation example of {n}"
        raise ConfigError("dataset.split", split, allowed)
    _at_least("dataset.length", cfg.dataset.length, 2)
    allowed = f"a whole number in 2 … {LENGTH_LIMIT}"
    _at_most("dataset.length", cfg.dataset.length, LENGTH_LIMIT, allowed)
    _check_model(cfg)
    _at_least("depth", cfg.depth, 1)
    _at_most("depth", cfg.depth, DEPTH_LIMIT, f"a whole number in 1 … {DEPTH_LIMIT}")
    _at_least("width", cfg.width, 1)
    _choice("activation", cfg.activation.name, ACTIVATIONS)
    _at_least("activation.slope", cfg.activation.slope, 0)
    _at_most(
        "activation.slope", cfg.activation.slope, SCALE_LIMIT, f"a number in [0, {SCALE_LIMIT:g}]"
    )
    _choice("init", cfg.init.name, INITS)
    for key in ("std", "scale", "gain"):
        _positive(f"init.{key}", getattr(cfg.init, key))
        _at_most(
            f"init.{key}", getattr(cfg.init, key), SCALE_LIMIT, f"a number in (0, {SCALE_LIMIT:g}]"
        )
    _at_most(
        "init.bias", cfg.init.bias, SCALE_LIMIT, f"a number in [-{SCALE_LIMIT:g}, {SCALE_LIMIT:g}]"
    )
    if not 0 <= cfg.init.bias_std <= SCALE_LIMIT:
        raise ConfigError("init.bias_std", cfg.init.bias_std, f"a number in [0, {SCALE_LIMIT:g}]")
    _choice("regularizer.kind", cfg.regularizer.kind, REGULARIZER_KINDS)
    if not (cfg.regularizer.lam >= 0 and math.isfinite(cfg.regularizer.lam)):
        raise ConfigError("regularizer.lam", cfg.regularizer.lam, "a finite number >= 0")
    if not 0 <= cfg.regularizer.l1_ratio <= 1:
        raise ConfigError("regularizer.l1_ratio", cfg.regularizer.l1_ratio, "a number in [0, 1]")
    if not 0 <= cfg.regularizer.dropout < 1:
        raise ConfigError("regularizer.dropout", cfg.regularizer.dropout, "a number in [0, 1)")
    _choice("norm", cfg.norm, NORMS)
    _choice("clip.kind", cfg.clip.kind, CLIP_KINDS)
    _positive("clip.threshold", cfg.clip.threshold)
    _choice("optimizer", cfg.optimizer.name, OPTIMIZERS)
    _positive("optimizer.lr", cfg.optimizer.lr)
    if not 0 <= cfg.optimizer.momentum < 1:
        raise ConfigError("optimizer.momentum", cfg.optimizer.momentum, "a number in [0, 1)")
    if cfg.optimizer.name == "gd" and cfg.optimizer.momentum:
        raise ConfigError(
            "optimizer.momentum",
            cfg.optimizer.momentum,
            "0 for gd (plain gradient descent; optimizer=sgd takes a momentum)",
        )
    _at_least("epochs", cfg.epochs, 1)
    _at_least("batch_size", cfg.batch_size, 1)
    if cfg.norm == "batch" and cfg.batch_size < 2:
        raise ConfigError("batch_size", cfg.batch_size, "at least 2 with norm=batch")
    if not 0 <= cfg.seed <= SEED_LIMIT:
        raise ConfigError("seed", cfg.seed, f"a whole number in 0 … {SEED_LIMIT}")
    _check_loss(cfg)
    _choice("device", cfg.device, DEVICES)
    _at_least("tracking.every", cfg.tracking.every, 1)
    if not cfg.tracking.experiment.strip():
        raise ConfigError("tracking.experiment", cfg.tracking.experiment, "a non-empty name")
    if len(cfg.tracking.experiment) > EXPERIMENT_NAME_LIMIT:
        shown = cfg.tracking.experiment[:40] + "…"
        raise ConfigError(
            "tracking.experiment", shown, f"a name of at most {EXPERIMENT_NAME_LIMIT} characters"
        )
    if cfg.tracking.uri:
        scheme = cfg.tracking.uri.split("://", 1)[0] if "://" in cfg.tracking.uri else ""
        if scheme.split("+", 1)[0] not in TRACKING_SCHEMES:
            allowed = "a URI whose scheme is one of " + ", ".join(TRACKING_SCHEMES)
            raise ConfigError("tracking.uri", cfg.tracking.uri, allowed)
    _check_memory(cfg)
