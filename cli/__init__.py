"""The command-line face of SpeechLab (``python main.py <command>``): a face on
``core``, like the GUI, and importing nothing of the GUI.

Results go to stdout (one JSON object with ``--json``); progress and
messages go to stderr. Bad arguments or data: one line on stderr and a
non-zero exit code.
"""
from __future__ import annotations

import sys

from core.errors import SpeechLabError

from . import audio, data, models, runs, speakers
from .common import Parser, printable


def build_parser():
    parser = Parser(prog="python main.py", description="SpeechLab: train and compare audio classifiers.")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    data.register(sub)
    models.register(sub)
    audio.register(sub)
    speakers.register(sub)
    runs.register(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        code = args.func(args)
        sys.stdout.flush()  # here, so that a closed pipe is caught below and not at interpreter exit
        return code
    except SpeechLabError as exc:
        sys.stderr.write(f"error: {printable(exc)}\n")  # a file name never colours or splits the line
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (``runs | head -1``): stop quietly, as a command killed by SIGPIPE would.
        # Python's own recipe: stdout to devnull, so that the flush at exit does not fail again.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141
