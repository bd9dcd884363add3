"""`amfast` entry point: builds the parser and dispatches to a subcommand."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

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
from amfast.errors import AmfastError, AmfastInternalError


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand registered."""
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


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the CLI; returns the exit code (2 for bad input, 130 on Ctrl-C)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except AmfastInternalError:
        raise  # a bug: keep the traceback for the report
    except AmfastError as error:
        print(f"amfast: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`amfast ... | head`): not an error, and no traceback at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        note = getattr(args, "interrupted", "no output was written")
        print(f"amfast: interrupted; {note}", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
