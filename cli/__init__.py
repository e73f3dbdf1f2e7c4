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
from .common import Parser


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
        return args.func(args)
    except SpeechLabError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
