"""Experiment commands: runs (the history), report (HTML/CSV/JSON), sweep (a grid of trainings)."""
from __future__ import annotations

import json
import sys

from core.errors import SpeechLabError
from core.tasks import TASKS

from .common import (add_cluster_arg, add_set_arg, check_folder, check_output, cluster_from_args, jobs_count,
                     parse_settings, positive_count, printable, seed_value)


def _history():
    from core.history import RunHistory

    return RunHistory.default()


def _notes(history):
    for note in history.notes:
        sys.stderr.write(f"note: {printable(note)}\n")


def _pct(v):
    try:
        return "—" if v is None else f"{100 * float(v):.1f}%"
    except (TypeError, ValueError):
        return "?"


def _cell(v, width):
    """A list cell of a summary column (a hand-edited row may hold any type)."""
    return f"{'' if v is None else str(v)}"[:width].ljust(width)


def cmd_runs(args):
    history = _history()
    if args.action == "show":
        if args.id is None:
            raise SpeechLabError("runs show needs a run id (see: python main.py runs)")
        run = history.get(args.id, strict=True)  # unreadable or damaged: one line naming the run
        if run is None:
            _notes(history)
            raise SpeechLabError(f"No run {args.id} in the history ({history.path})")
        run["model_path"] = str(history.model_path(args.id) or "")
        _notes(history)
        if args.json:
            print(json.dumps(run, default=str))
        else:
            from core.history import settings_of

            m = run.get("metrics") or {}
            lines = [f"run {run['id']}  {run['created']}  {run['task']}  {run['status']}  from {run['source']}",
                     f"test accuracy {_pct(m.get('accuracy'))}, train {_pct(m.get('train_accuracy'))}, "
                     f"balanced {_pct(m.get('balanced_accuracy'))}; {float(run['seconds']):.1f} s"]
            lines += [f"  {k}: {v}" for k, v in settings_of(run).items()]
            lines.append(f"  model file: {run['model_path'] or '(none)'}")
            if run.get("note"):
                lines.append(f"  note: {run['note']}")
            for line in lines:  # names and notes come from files and users: never raw control characters
                print(printable(line))
        return 0
    if args.id is not None:
        raise SpeechLabError(f"unexpected '{args.id}': use 'runs show ID'")
    runs = history.runs(args.task, search=args.search, starred=args.starred or None, limit=args.limit,
                        strict=True)  # "cannot be read" is an error, never "no runs recorded yet"
    _notes(history)
    keys = ("id", "created", "task", "dataset", "features", "model", "split", "accuracy", "starred", "note")
    if args.json:
        print(json.dumps({"history": str(history.path), "runs": [{k: r[k] for k in keys + ("status", "source",
                                                                                          "seconds", "n_files",
                                                                                          "fingerprint")}
                                                                 for r in runs]}))
        return 0
    if not runs:
        print(f"no runs recorded yet ({history.path})")
        return 0
    print(f"{'id':>5}  {'time':19}  {'task':8}  {'data':14}  {'features':24}  {'model':34}  {'split':14}  acc")
    for r in runs:
        star = "*" if r["starred"] else " "
        print(printable(f"{r['id']:>4}{star}  {_cell(r['created'], 19)}  {_cell(r['task'], 8)}  "
                        f"{_cell(r['dataset_name'], 14)}  {_cell(r['features'], 24)}  {_cell(r['model'], 34)}  "
                        f"{_cell(r['split'], 14)}  {_pct(r['accuracy'])}"))
    return 0


def cmd_report(args):
    from core.report_html import write_report

    history = _history()
    runs = []
    for rid in args.ids:
        run = history.get(rid, strict=True)  # unreadable or damaged: one line naming the run
        if run is None:
            _notes(history)
            raise SpeechLabError(f"No run {rid} in the history ({history.path})")
        runs.append(run)
    check_output(args.out, example="report.html")
    path = write_report(runs, args.out)
    if args.json:
        print(json.dumps({"report": str(path), "runs": args.ids}))
    else:
        print(f"wrote {path} ({len(runs)} run{'s' if len(runs) > 1 else ''})")
    return 0


def _sweep_printer():
    def show(ans):
        values = ", ".join(f"{k}={_fmt(v)}" for k, v in ans.get("values", {}).items())
        if ans.get("error"):
            sys.stderr.write(f"run {ans['index'] + 1} ({values}): {ans['error']}\n")
        else:
            sys.stderr.write(f"run {ans['index'] + 1} ({values}): test accuracy {ans['accuracy']:.4f}, "
                             f"{ans['seconds']:.1f} s, recorded as run {ans['run_id']}\n")

    return show


def _fmt(v):
    from core.sweep import format_value

    return format_value(v)


def cmd_sweep(args):
    from core import sweep as sw
    from core.tasks import get_task

    from .common import StopOnFirstInterrupt, progress_printer

    if args.report:
        return _report_tables(args)
    spec = get_task(args.task)
    if args.data is not None:
        check_folder(args.data, "--data")
    if not args.grid:
        raise SpeechLabError('sweep needs at least one --grid NAME=VALUE;VALUE (e.g. --grid "hidden=64;128,64")')
    grid = [sw.parse_grid(g) for g in args.grid]
    model_params = {}
    for flag, name in (("epochs", "epochs"), ("lr", "learning_rate")):
        if getattr(args, flag) is not None:
            model_params[name] = getattr(args, flag)
    if args.model is not None:
        spec.model_choice(args.model)
    base = sw.RunSpec(task=spec.key, data=args.data, label=args.label, layout=args.layout, features=args.features,
                      feature_settings=parse_settings(args.settings), model=args.model, model_params=model_params,
                      split=args.split, test_size=args.test_size, seed=args.seed)
    specs = sw.expand_grid(base, grid)
    sw.check_runs(base, specs)  # every combination's settings are checked before any work
    where = (f"on the Dask scheduler at {args.cluster}" if args.cluster
             else f"in {args.processes or sw.default_workers()} processes")
    sys.stderr.write(f"sweep: {len(specs)} runs {where}\n")
    with cluster_from_args(args), \
            StopOnFirstInterrupt("runs not started are dropped, running ones keep their best model") as interrupts:
        out = sw.run_sweep(specs, max_workers=args.processes, on_result=_sweep_printer(),
                           on_progress=progress_printer(), should_stop=interrupts.should_stop,
                           cache=not args.no_cache)
    rows = sw.results_table(specs, out["results"])
    done = [r for r in rows if r["accuracy"] is not None]
    if args.json:
        print(json.dumps({"sweep": out["id"], "seconds": round(out["seconds"], 3), "stopped": out["stopped"],
                          "runs": rows}))
    else:
        keys = [k for k, _ in grid]
        print("  ".join(f"{k:>16}" for k in keys) + "  test acc  run")
        for r in rows:
            acc = "—" if r["accuracy"] is None else f"{r['accuracy']:.4f}"
            print("  ".join(f"{r['values'].get(k, ''):>16}" for k in keys) + f"  {acc:>8}  "
                  + (str(r["run_id"]) if r["run_id"] else (r["error"] or "not run")))
        print(f"{len(done)}/{len(rows)} runs in {out['seconds']:.1f} s" + (" (stopped)" if out["stopped"] else ""))
    failed = [r for r in rows if r["error"]]
    return 1 if failed and not done else 0


def _report_tables(args):
    """sweep --report q2|q3|q4: the report's experiments, its numbers beside ours."""
    from core import sweep as sw

    from .common import StopOnFirstInterrupt, progress_printer

    if args.grid:
        raise SpeechLabError("--report runs the report's own table; leave out --grid")
    if args.data is not None:
        check_folder(args.data, "--data")
    specs = sw.report_sweep(args.report, data=args.data, seed=42 if args.seed is None else args.seed)
    if args.epochs is not None:
        for s in specs:
            s.model_params["epochs"] = args.epochs
    sys.stderr.write(f"{sw.REPORT_TABLES[args.report]}: {len(specs)} runs on "
                     f"{args.data or 'the demo data'}\n")
    with cluster_from_args(args), \
            StopOnFirstInterrupt("runs not started are dropped, running ones keep their best model") as interrupts:
        out = sw.run_sweep(specs, name=args.report, max_workers=args.processes, on_result=_sweep_printer(),
                           on_progress=progress_printer(), should_stop=interrupts.should_stop,
                           cache=not args.no_cache)
    rows = sw.results_table(specs, out["results"])
    if args.json:
        print(json.dumps({"sweep": out["id"], "table": args.report, "seconds": round(out["seconds"], 3),
                          "stopped": out["stopped"], "runs": rows,
                          "report_data": sw.REPORT_TABLE_DATA[args.report]}))
        return 0
    print(f"{'experiment':58}  {'ours':>7}  {'report':>7}  run")
    for r in rows:
        ours = "—" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f}%"
        ref = "—" if r["reference"] is None else f"{100 * r['reference']:.1f}%"
        print(f"{r['title'][:58]:58}  {ours:>7}  {ref:>7}  {r['run_id'] or r['error'] or ''}")
    print(f"The report's numbers were measured on {sw.REPORT_TABLE_DATA[args.report]}; ours on "
          f"{args.data or 'the demo data'}, with the same settings. Other data give other numbers.")
    return 0


def register(sub):
    p = sub.add_parser("runs", help="list the run history, or 'runs show ID' for one run in full")
    p.add_argument("action", nargs="?", choices=["show"], help="show: one run in full")
    p.add_argument("id", nargs="?", type=int)
    p.add_argument("--task", choices=list(TASKS))
    p.add_argument("--search", help="text in the data folder, features, model, split or note")
    p.add_argument("--starred", action="store_true")
    p.add_argument("--limit", type=positive_count, help="list only the newest N runs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("report", help="write the HTML report of one run or a comparison (or .csv/.json metrics)")
    p.add_argument("ids", nargs="+", type=int, metavar="ID")
    p.add_argument("--out", required=True, help="report.html (or .csv / .json)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("sweep", help="train every combination of a grid of settings, each run recorded")
    from core.datasets import LABEL_KINDS, LAYOUTS
    from core.features import FEATURE_NAMES

    from .models import ALL_MODEL_KEYS

    p.add_argument("--task", choices=list(TASKS), default="digits")
    p.add_argument("--data", help="dataset folder (default: the task's demo data)")
    p.add_argument("--label", choices=list(LABEL_KINDS))
    p.add_argument("--layout", choices=list(LAYOUTS), default="auto")
    p.add_argument("--features", choices=list(FEATURE_NAMES))
    add_set_arg(p)
    p.add_argument("--model", choices=ALL_MODEL_KEYS)
    p.add_argument("--grid", action="append", default=[], metavar="NAME=V1;V2",
                   help="a swept setting and its values separated by ';' (repeat for up to 3 settings), e.g. "
                        "--grid 'hidden=64;128,64' --grid 'activation=relu;bipolar-sigmoid'")
    p.add_argument("--report", choices=["q2", "q3", "q4"],
                   help="reproduce one of the report's tables (its numbers beside ours) instead of a --grid")
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--split", choices=["random", "speaker"], default="random")
    p.add_argument("--test-size", type=float, default=0.2)
    p.add_argument("--seed", type=seed_value, default=None)
    p.add_argument("--processes", type=jobs_count, default=None, help="runs in parallel (default: one per core)")
    p.add_argument("--no-cache", action="store_true")
    add_cluster_arg(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sweep)
