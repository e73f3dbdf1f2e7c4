"""SpeechLab entry point: no arguments starts the GUI; a sub-command runs the CLI.

    python main.py                       # the desktop app (demo data on first launch)
    python main.py features --task digits --data DIR --json
    python main.py --help                # every sub-command
"""
import sys

import core  # noqa: F401  - first: its settings for NumPy (core/__init__.py) must precede NumPy's import


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("gui", "--gui"):
        from gui.app import run

        return run(argv[1:])
    import gc

    from cli import main as cli_main

    # A command-line process: what it imported lives until exit, so it leaves the collector's sight; the
    # collections a command's own objects set off (a scan of 100,000 files makes 100,000 items) then do not
    # walk NumPy's and SpeechLab's modules each time (a warm ``features`` of 13,500 files: ~20 ms less).
    # Here, not in cli.main: a process that calls cli.main among other work (the tests) keeps its collector.
    gc.freeze()
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
