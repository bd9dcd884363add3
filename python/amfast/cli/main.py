"""`amfast` entry point: builds the parser and dispatches to a subcommand.

Exit codes, the same for every subcommand: 0 done; 1 incomplete (a rerun of the same command
finishes: rows left for a retry, prompts short of samples, a failed template check); 2 a user
error (bad flag, key, value or input, named in one line, no traceback); 130 interrupted (Ctrl-C;
finished work is kept for the rerun).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

EXIT_DONE, EXIT_INCOMPLETE, EXIT_USER_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand registered."""
    # Imported here, not at the top, so that Ctrl-C while they load is a clean interruption.
    from amfast import __version__
    from amfast.cli import (
        clean,
        decontam,
        dedup,
        demo,
        distill,
        evaluate,
        export,
        label,
        report,
        run,
        train,
        verify,
    )

    parser = argparse.ArgumentParser(
        prog="amfast", description="Build reasoning SFT datasets fast."
    )
    parser.add_argument("--version", action="version", version=f"amfast {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    clean.register(commands)
    dedup.register(commands)
    decontam.register(commands)
    distill.register(commands)
    label.register(commands)
    report.register(commands)
    evaluate.register(commands)
    export.register(commands)
    demo.register(commands)
    verify.register(commands)
    train.register(commands)
    run.register(commands)
    return parser


def _interrupted(note: str) -> int:
    print(f"amfast: interrupted; {note}", file=sys.stderr)
    return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None, *, own_process: bool = False) -> int:
    """Runs the CLI; returns the exit code (see the module docs).

    `own_process`: this process is the `amfast` command itself (not a caller's), so once the
    command has returned, a late Ctrl-C is ignored: its outputs are complete, and the exit code
    must stay the command's instead of a death by SIGINT during interpreter shutdown.
    """
    try:
        parser = build_parser()
    except KeyboardInterrupt:
        return _interrupted("nothing was started")
    from amfast.errors import AmfastError, AmfastInternalError

    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
        if own_process:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    except AmfastInternalError:
        raise  # a bug: keep the traceback for the report
    except AmfastError as error:
        print(f"amfast: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:
        # The reader went away (`amfast ... | head`): not an error, and no traceback at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_DONE
    except KeyboardInterrupt:
        return _interrupted(getattr(args, "interrupted", "no output was written"))
    return code


def run() -> None:
    """The `amfast` console command."""
    sys.exit(main(own_process=True))


if __name__ == "__main__":
    run()
