"""Reports of one run or a comparison: one self-contained HTML file, and metrics as CSV or JSON.

The HTML has no external reference: styles inline, every image (curves,
confusion matrices) an SVG drawn here from the numbers and embedded as a
``data:image/svg+xml;base64`` URI — it opens offline, can be mailed, and
needs no plotting library. Input: runs as returned by
:meth:`core.history.RunHistory.get`.
"""
from __future__ import annotations

import base64
import contextlib
import csv
import datetime
import html
import io
import json

from .history import curves, differing, settings_of

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
           "#bcbd22")
_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
h3{font-size:15px}table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}tr.diff td{background:#fff3cd}
.poor{background:#f4c7c3}.weak{background:#ffecb3}.muted{color:#777}.note{white-space:pre-wrap}
.imgs{display:flex;flex-wrap:wrap;gap:16px}img{border:1px solid #eee}
"""


def _e(x):
    return html.escape("" if x is None else str(x))


def _xml_char(ch):
    code = ord(ch)
    if code in (9, 10, 13) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code >= 0x10000:
        return ch
    return "\ufffd"  # a control character or a lone surrogate: not allowed in XML at all, even escaped


def _svg_text(x, limit=None):
    """Text for an SVG picture: cut to ``limit`` characters *before* escaping (cutting after could
    leave half an entity, ``&am``, and the picture would not render), characters XML forbids replaced."""
    text = "" if x is None else str(x)
    if limit is not None:
        text = text[:limit]
    return html.escape("".join(_xml_char(ch) for ch in text))


def _pct(v):
    return "—" if v is None else f"{100 * float(v):.1f} %"


def svg_uri(svg):
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _img(svg, alt):
    return f'<img alt="{_e(alt)}" src="{svg_uri(svg)}">'


def line_plot_svg(series, *, title, y_label, width=520, height=300, y_range=None):
    """An SVG line chart. ``series``: list of (name, xs, ys, colour, dashed)."""
    pts = [(x, y) for _, xs, ys, _, _ in series for x, y in zip(xs, ys) if y is not None]
    left, right, top, bottom = 56, 150, 28, 40
    w, h = width - left - right, height - top - bottom
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/>',
           f'<text x="{left}" y="16" font-size="13" font-weight="bold">{_svg_text(title)}</text>']
    if not pts:
        out.append(f'<text x="{left + 10}" y="{top + h / 2}">no curves recorded</text></svg>')
        return "".join(out)
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    if y_range:
        y0, y1 = y_range
    else:
        y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
        pad = (y1 - y0) * 0.05 or 0.5
        y0, y1 = y0 - pad, y1 + pad
    x1 = x1 if x1 > x0 else x0 + 1

    def sx(x):
        return left + (x - x0) / (x1 - x0) * w

    def sy(y):
        return top + h - (min(max(y, y0), y1) - y0) / (y1 - y0) * h

    out.append(f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#999"/>')
    for i in range(5):
        yv = y0 + (y1 - y0) * i / 4
        out.append(f'<line x1="{left}" x2="{left + w}" y1="{sy(yv):.1f}" y2="{sy(yv):.1f}" stroke="#eee"/>'
                   f'<text x="{left - 4}" y="{sy(yv) + 4:.1f}" text-anchor="end">{yv:.3g}</text>')
    for i in range(5):
        xv = x0 + (x1 - x0) * i / 4
        out.append(f'<text x="{sx(xv):.1f}" y="{top + h + 14}" text-anchor="middle">{xv:.0f}</text>')
    out.append(f'<text x="{left + w / 2}" y="{height - 6}" text-anchor="middle">epoch</text>'
               f'<text x="14" y="{top + h / 2}" transform="rotate(-90 14 {top + h / 2})" '
               f'text-anchor="middle">{_svg_text(y_label)}</text>')
    for k, (name, xs, ys, colour, dashed) in enumerate(series):
        seg = [f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys) if y is not None]
        if not seg:
            continue
        dash = ' stroke-dasharray="5,3"' if dashed else ""
        if len(seg) == 1:
            out.append(f'<circle cx="{seg[0].split(",")[0]}" cy="{seg[0].split(",")[1]}" r="3" fill="{colour}"/>')
        else:
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{" ".join(seg)}"/>')
        ly = top + 12 + 16 * k
        out.append(f'<line x1="{left + w + 10}" x2="{left + w + 30}" y1="{ly - 4}" y2="{ly - 4}" stroke="{colour}" '
                   f'stroke-width="2"{dash}/><text x="{left + w + 34}" y="{ly}">{_svg_text(name, 20)}</text>')
    out.append("</svg>")
    return "".join(out)


def confusion_svg(matrix, labels, *, title="Confusion matrix", size=360):
    """An SVG heat map: rows true, columns predicted, colour = share of the row, text = count."""
    n = len(labels)
    label_w = 80 if n else 0
    cell = max(8.0, (size - label_w - 30) / max(n, 1))
    width = height = int(label_w + 30 + cell * n + 10)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 20}" '
           f'font-family="sans-serif" font-size="{max(7, min(12, cell * 0.4)):.0f}">'
           f'<rect width="100%" height="100%" fill="white"/>'
           f'<text x="4" y="14" font-size="13" font-weight="bold">{_svg_text(title)}</text>']
    x0, y0 = label_w + 20, 24
    for r in range(n):
        total = sum(matrix[r]) or 1
        out.append(f'<text x="{x0 - 4}" y="{y0 + (r + 0.5) * cell + 4:.1f}" text-anchor="end">{_svg_text(labels[r], 12)}</text>')
        for c in range(n):
            share = matrix[r][c] / total
            shade = int(255 - 200 * share)
            fill = f"rgb({shade},{int(255 - 150 * share)},255)"
            colour = "white" if share > 0.6 else ("#bbb" if matrix[r][c] == 0 else "#111")
            x, y = x0 + c * cell, y0 + r * cell
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell:.1f}" height="{cell:.1f}" fill="{fill}" stroke="white"/>')
            if cell >= 14:
                out.append(f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2 + 4:.1f}" text-anchor="middle" '
                           f'fill="{colour}">{int(matrix[r][c])}</text>')
    for c in range(n):
        x = x0 + (c + 0.5) * cell
        out.append(f'<text x="{x:.1f}" y="{y0 + n * cell + 12:.1f}" text-anchor="middle">{_svg_text(labels[c], 6)}</text>')
    out.append(f'<text x="{x0 + n * cell / 2:.1f}" y="{y0 + n * cell + 26:.1f}" text-anchor="middle" '
               f'font-weight="bold">predicted</text></svg>')
    return "".join(out)


def _run_name(run):
    return f"run {run['id']}"


def _curve_plots(runs):
    """(loss svg, accuracy svg) with every run's curves overlaid (dashed: validation)."""
    loss, acc = [], []
    for k, run in enumerate(runs):
        colour = PALETTE[k % len(PALETTE)]
        xs, s = curves(run)
        name = _run_name(run) if len(runs) > 1 else ""
        for key, target, dashed in (("loss", loss, False), ("val_loss", loss, True), ("accuracy", acc, False),
                                    ("val_accuracy", acc, True)):
            if key in s:
                label = f"{name} {'val' if dashed else 'train'}".strip()
                target.append((label, xs, s[key], colour, dashed))
    return (line_plot_svg(loss, title="Loss per epoch", y_label="loss"),
            line_plot_svg(acc, title="Accuracy per epoch", y_label="accuracy", y_range=(0, 1)))


def _kv_table(pairs):
    return "<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs) + "</table>"


def _per_class_table(metrics):
    per = metrics.get("per_class") or {}
    rows = []
    for lab in metrics.get("labels") or per:
        st = per.get(str(lab)) or per.get(lab) or {}
        cells = []
        for key in ("train_accuracy", "accuracy", "precision", "recall", "f1"):
            v = st.get(key)
            cls = "" if v is None else (" poor" if v < 0.5 else " weak" if v < 0.8 else "")
            cells.append(f'<td class="num{cls}">{_pct(v)}</td>')
        rows.append(f"<tr><td>{_e(lab)}</td><td class=num>{_e(st.get('support', ''))}</td>{''.join(cells)}</tr>")
    return ("<table><tr><th>class</th><th>n test</th><th>train acc</th><th>test acc</th><th>precision</th>"
            "<th>recall</th><th>F1</th></tr>" + "".join(rows) + "</table>")


def _open_set(metrics):
    os_ = metrics.get("open_set")
    if not isinstance(os_, dict):
        return ""
    pairs = [(k, _pct(v) if isinstance(v, float) and 0 <= v <= 1 else v) for k, v in os_.items()
             if not isinstance(v, (dict, list))]
    return "<h3>Open set (unknown speakers)</h3>" + _kv_table(pairs)


def _run_section(run):
    m = run.get("metrics") or {}
    ds = run.get("dataset") or {}
    kf = run.get("kfold") or m.get("kfold") or {}
    accuracy = _pct(m.get("accuracy"))
    if isinstance(kf, dict) and kf.get("std_accuracy") is not None:
        accuracy = f"{100 * float(m.get('accuracy') or 0):.1f} ± {100 * float(kf['std_accuracy']):.1f} % (mean ± std over folds)"
    head = [
        ("test accuracy", accuracy), ("train accuracy", _pct(m.get("train_accuracy"))),
        ("balanced accuracy", _pct(m.get("balanced_accuracy"))), ("macro F1", _pct(m.get("macro_f1"))),
    ]
    if m.get("window_accuracy") is not None and m.get("n_windows", 0) > m.get("n_clips", 0):
        head.append(("window accuracy", _pct(m.get("window_accuracy"))))
    training = run.get("training") or {}
    data = [("folder", ds.get("path")), ("files", ds.get("n_files")), ("fingerprint", ds.get("fingerprint")),
            ("layout", ds.get("layout")), ("label", ds.get("label_kind")), ("classes", ", ".join(run.get("labels") or [])),
            ("training clips", training.get("n_train")), ("test clips", training.get("n_test")),
            ("skipped files", training.get("n_skipped"))]
    parts = [f'<h2 id="run-{run["id"]}">Run {run["id"]}: {_e(run.get("summary", {}).get("model") or "")}</h2>',
             f'<p class=muted>{_e(run.get("created"))} · task {_e(run.get("task"))} · from {_e(run.get("source"))} · '
             f'{_e(run.get("status"))} · {float(run.get("seconds") or 0):.1f} s'
             + (f" · {_e(run.get('stop_reason'))}" if run.get("stop_reason") else "") + "</p>"]
    if run.get("note"):
        parts.append(f'<p class=note><b>Note:</b> {_e(run["note"])}</p>')
    parts.append(_kv_table(head))
    parts.append("<h3>Dataset</h3>" + _kv_table(data))
    parts.append("<h3>Settings</h3>" + _kv_table(settings_of(run).items()))
    loss, acc = _curve_plots([run])
    images = [_img(loss, f"loss curves of run {run['id']}"), _img(acc, f"accuracy curves of run {run['id']}")]
    if m.get("confusion") and m.get("labels"):
        images.append(_img(confusion_svg(m["confusion"], [str(x) for x in m["labels"]],
                                         title=f"Confusion matrix, run {run['id']}"),
                           f"confusion matrix of run {run['id']}"))
    parts.append('<div class=imgs>' + "".join(images) + "</div>")
    parts.append("<h3>Per class</h3>" + _per_class_table(m))
    parts.append(_open_set(m))
    kfold = run.get("kfold") or m.get("kfold")
    if isinstance(kfold, dict) and kfold.get("folds"):
        parts.append(_kfold_section(kfold))
    if run.get("per_speaker"):
        parts.append("<h3>Leave one speaker out</h3>"
                     + _kv_table((s, _pct(a)) for s, a in run["per_speaker"].items()))
    if m.get("report"):
        parts.append(f"<h3>Classification report</h3><pre>{_e(m['report'])}</pre>")
    parts.append("<h3>Versions</h3>" + _kv_table((run.get("versions") or {}).items()))
    return "\n".join(parts)


def _kfold_section(kfold):
    """The per-fold table with the mean ± std and the 95 % interval of a k-fold run."""
    from .kfold import describe

    speakers = kfold.get("grouping") == "speaker"
    rows = "".join(
        f"<tr><td class=num>{_e(f.get('fold'))}</td><td class=num>{_e(f.get('n_test'))}</td>"
        f"<td class=num>{_pct(f.get('accuracy'))}</td>"
        + (f"<td>{_e(', '.join(map(str, f.get('test') or [])))}</td>" if speakers else "") + "</tr>"
        for f in kfold["folds"])
    ci = kfold.get("ci95")
    foot = (f"<tr><th>mean ± std</th><td></td><td class=num>{_pct(kfold.get('mean_accuracy'))}"
            + (f" ± {100 * float(kfold['std_accuracy']):.1f} %" if kfold.get("std_accuracy") is not None else "")
            + "</td>" + ("<td></td>" if speakers else "") + "</tr>")
    if ci:
        foot += (f"<tr><th>95 % interval</th><td></td><td class=num>{_pct(ci[0])} – {_pct(ci[1])}</td>"
                 + ("<td></td>" if speakers else "") + "</tr>")
    return (f"<h3>k-fold cross-validation</h3><p>{_e(describe(kfold))}. Each fold trained with the run's "
            "settings and seed and tested on clips it never trained on; the model kept is trained on all the "
            "data afterwards. The interval is Student's t over the folds.</p>"
            "<table class=folds><tr><th>fold</th><th>n test</th><th>accuracy</th>"
            + ("<th>test speakers</th>" if speakers else "") + "</tr>" + rows + foot + "</table>")


def _comparison(runs):
    settings = [settings_of(r) for r in runs]
    diff = set(differing(settings))
    keys = list(dict.fromkeys(k for s in settings for k in s))
    keys.sort(key=lambda k: k not in diff)  # differences first
    head = "<tr><th>setting</th>" + "".join(f"<th>{_e(_run_name(r))}</th>" for r in runs) + "</tr>"
    rows = "".join(f'<tr class="{"diff" if k in diff else ""}"><td>{_e(k)}</td>'
                   + "".join(f"<td>{_e(s.get(k, '—'))}</td>" for s in settings) + "</tr>" for k in keys)
    metric_rows = []
    for key, title in (("accuracy", "test accuracy"), ("train_accuracy", "train accuracy"),
                       ("balanced_accuracy", "balanced accuracy"), ("macro_f1", "macro F1")):
        values = [(r.get("metrics") or {}).get(key) for r in runs]
        best = max((v for v in values if v is not None), default=None)
        metric_rows.append(f"<tr><td>{title}</td>" + "".join(
            f'<td class=num>{"<b>" if v is not None and v == best and len(runs) > 1 else ""}{_pct(v)}</td>'
            for v in values) + "</tr>")
    labels = list(dict.fromkeys(str(lab) for r in runs for lab in (r.get("metrics") or {}).get("labels") or []))
    for lab in labels:
        metric_rows.append(f"<tr><td>class {_e(lab)}</td>" + "".join(
            f"<td class=num>{_pct(((r.get('metrics') or {}).get('per_class') or {}).get(lab, {}).get('accuracy'))}</td>"
            for r in runs) + "</tr>")
    metric_rows.append("<tr><td>seconds</td>" + "".join(f"<td class=num>{float(r.get('seconds') or 0):.1f}</td>"
                                                        for r in runs) + "</tr>")
    loss, acc = _curve_plots(runs)
    return ("<h2>Comparison</h2><div class=imgs>" + _img(loss, "loss curves overlaid")
            + _img(acc, "accuracy curves overlaid") + "</div>"
            + "<h3>Metrics side by side</h3><table>" + head.replace("setting", "metric") + "".join(metric_rows)
            + "</table><h3>Settings (differences highlighted, first)</h3><table>" + head + rows + "</table>")


def render_html(runs, *, title=None):
    """One self-contained HTML document for one run or a comparison of several."""
    if not runs:
        raise ValueError("a report needs at least one run")
    ids = ", ".join(str(r["id"]) for r in runs)
    title = title or (f"SpeechLab run {ids}" if len(runs) == 1 else f"SpeechLab: runs {ids} compared")
    body = [f"<h1>{_e(title)}</h1>",
            f"<p class=muted>Written {datetime.datetime.now():%Y-%m-%d %H:%M} by SpeechLab. "
            "Accuracy is per clip on the held-out test split.</p>"]
    if len(runs) > 1:
        body.append(_comparison(runs))
    body += [_run_section(r) for r in runs]
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


CSV_COLUMNS = ("id", "created", "task", "source", "status", "dataset", "n_files", "fingerprint", "features", "model",
               "split", "accuracy", "train_accuracy", "balanced_accuracy", "macro_f1", "epochs", "seconds", "note")


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(v):
    """A CSV cell that a spreadsheet never runs: text starting like a formula (``=HYPERLINK(…)``,
    ``+``, ``-``, ``@``, a tab or a carriage return) gets a leading apostrophe (OWASP's advice);
    numbers stay numbers."""
    if isinstance(v, str) and v.startswith(_FORMULA_STARTS):
        return "'" + v
    return v


def metrics_csv(runs):
    """One row per run: the summary and every class's test accuracy (``acc_<class>``); no text
    cell starts a spreadsheet formula."""
    labels = list(dict.fromkeys(str(lab) for r in runs for lab in (r.get("metrics") or {}).get("labels") or []))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([_csv_cell(c) for c in CSV_COLUMNS] + [_csv_cell(f"acc_{lab}") for lab in labels])
    for r in runs:
        s = r.get("summary") or r
        per = (r.get("metrics") or {}).get("per_class") or {}
        w.writerow([_csv_cell(s.get(c)) for c in CSV_COLUMNS]
                   + [(per.get(lab) or {}).get("accuracy") for lab in labels])
    return buf.getvalue()


def metrics_json(runs):
    """The runs in full (settings, curves, metrics) as one JSON document."""
    return json.dumps({"runs": runs}, indent=1, default=str)


def write_report(runs, path):
    """Write ``path`` by its suffix: ``.html``/``.htm`` report, ``.csv`` or ``.json`` metrics.

    Atomically: a temporary file beside it, renamed over it when whole, so a failed write (a full
    disk) leaves an earlier report as it was. A failure is a ``SpeechLabError`` naming the file.
    """
    import os
    import pathlib
    import tempfile

    from .errors import SpeechLabError

    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        text = render_html(runs)
    elif suffix == ".csv":
        text = metrics_csv(runs)
    elif suffix == ".json":
        text = metrics_json(runs)
    else:
        raise SpeechLabError(f"{path}: choose a .html, .csv or .json file")
    # A name that was not UTF-8 on disk (a lone surrogate in Python) is written as \udcXX, never a crash.
    data = text.encode("utf-8", "backslashreplace")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent.resolve()))
        with os.fdopen(fd, "wb") as fh:
            mask = os.umask(0)
            os.umask(mask)
            os.fchmod(fh.fileno(), 0o666 & ~mask)  # an ordinary document, not mkstemp's 0600
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        kept = " (the earlier report there is unchanged)" if path.exists() else ""
        raise SpeechLabError(f"{path}: the report could not be written: {exc.strerror or exc}{kept}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return path
