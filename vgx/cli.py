"""`vgx COMMAND ...`: parse, hand over, turn user mistakes into one line and an exit code."""

from __future__ import annotations

import os
import sys
from pathlib import Path

USAGE = """usage: vgx COMMAND [ARGS]

commands:
  train [OVERRIDES]   train one configuration (a Hydra app: -m sweeps, --cfg job, --help)
  ui [--port N]       the MLflow UI on 127.0.0.1 against the store `vgx train` writes

  --debug             show the full traceback of an error
examples:
  vgx train activation=sigmoid depth=9
  vgx train -m regularizer=l2 regularizer.lam=0,0.01,0.1 depth=3,6,9
"""

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def conf_dir() -> Path:
    """The Hydra configs: shipped inside the package when installed, at the repo top otherwise."""
    packaged = Path(__file__).parent / "conf"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "conf"


class Interrupted(Exception):
    """A run was stopped by Ctrl-C or SIGTERM after its records were saved."""


def _task(cfg) -> float:  # noqa: ANN001 - Hydra passes a DictConfig
    """The Hydra task: one run; returns the final validation loss (a sweeper's objective)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from vgx.config import validate

    config = OmegaConf.to_object(cfg)
    validate(config)  # before the heavy imports: a mistake costs a second, not five

    from vgx.experiment import run_experiment, summary
    from vgx.tracking import tracking_uri

    resolved = OmegaConf.to_container(cfg, resolve=True)
    output_dir = Path(HydraConfig.get().runtime.output_dir)
    outcome = run_experiment(config, resolved, output_dir, tracking_uri(config.tracking.uri))
    print(summary(outcome, config), flush=True)
    if outcome.result.status == "interrupted":
        raise Interrupted(outcome.run_name)
    return outcome.result.history[-1]["loss/val"]


def train_command(args: list[str]) -> int:
    import hydra

    from vgx.config import register_configs
    from vgx.preflight import check_command_line

    register_configs()
    check_command_line(args, conf_dir())
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises; main() prints the one line
    sys.argv = ["vgx train", *args]
    app = hydra.main(config_path=str(conf_dir()), config_name="config", version_base="1.3")(_task)
    app()
    return 0


def ui_command(args: list[str]) -> int:
    from vgx.ui import serve

    return serve(args)


COMMANDS = {"train": train_command, "ui": ui_command}


def main(argv: list[str] | None = None) -> int:
    from vgx.errors import one_line

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(
            f"vgx: error: unknown command {command!r}; expected one of {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    try:
        return COMMANDS[command](rest)
    except (Interrupted, KeyboardInterrupt):
        print(f"vgx {command}: interrupted; what was recorded is kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        line = one_line(exc)
        if line is None or debug:
            raise
        print(f"vgx {command}: error: {line}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
