"""`vgx COMMAND ...`: parse, hand over, turn user mistakes into one line and an exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from vgx.errors import EXIT_INTERRUPTED, EXIT_USER_ERROR

USAGE = """usage: vgx COMMAND [ARGS]

commands:
  train [OVERRIDES]   train one configuration (a Hydra app: -m sweeps, --cfg job, --help)
  study NAME [OVERRIDES]
                      run one of the source texts' comparisons and check its claim (--list)
  report [--sweep ID|latest] [--experiment NAME] [--filter STR]
                      tables, figures and bias/variance labels of recorded runs
  theory [OVERRIDES]  what mean-field theory predicts for the gradient, without training
  ui [--port N]       the MLflow UI on 127.0.0.1 against the store `vgx train` writes

  --debug             show the full traceback of an error
examples:
  vgx train activation=sigmoid depth=9
  vgx train -m regularizer=l2 regularizer.lam=0,0.01,0.1 depth=3,6,9
"""


def _command(name: str) -> Callable[[list[str]], int]:
    """The function behind a command, imported only when it runs (each stage imports its own)."""
    if name in ("train", "study", "theory"):
        from vgx.sweeps import commands as sweeps

        return {
            "train": sweeps.train_command,
            "study": sweeps.study_command,
            "theory": sweeps.theory_command,
        }[name]
    if name == "report":
        from vgx.analysis.commands import report_command

        return report_command
    from vgx.store.ui import serve

    return serve


COMMANDS = ("train", "study", "report", "theory", "ui")


def main(argv: list[str] | None = None) -> int:
    from vgx.errors import EXIT_FAILED, Interrupted, JobRefused, StacksFailed, one_line
    from vgx.sweeps.preflight import hydra_line

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
    from vgx.sweeps.signals import signals_as_ctrl_c

    try:
        with signals_as_ctrl_c():
            return _command(command)(rest)
    except (Interrupted, KeyboardInterrupt):
        print(f"vgx {command}: interrupted; what was recorded is kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    except StacksFailed as failed:
        print(f"vgx {command}: error: {failed.line}", file=sys.stderr)
        return EXIT_FAILED
    except JobRefused as refused:
        if debug:
            raise
        print(f"vgx {command}: error: {refused.line}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as exc:
        line = one_line(exc) or hydra_line(exc)
        if line is None or debug:
            raise
        print(f"vgx {command}: error: {line}", file=sys.stderr)
        return EXIT_USER_ERROR


def nothing_left_running() -> bool:
    """Whether the command that ran left nothing for the interpreter's teardown to wait for."""
    sweeps = sys.modules.get("vgx.sweeps.commands")
    return sweeps is not None and sweeps.exit_fast


def run() -> None:
    """The `vgx` command: main(), then, after a single run or a batched sweep, exit without the
    interpreter's teardown of torch and Hydra (1–2 s, more than a default run's training). The
    runs have been closed and every file written by then; the output streams and log files are
    flushed here."""
    import logging

    code = main()
    if not nothing_left_running():
        sys.exit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    run()
