"""Shared by the benchmark scripts: keep benchmarks/RESULTS.md one section per benchmark."""
import pathlib
import re

RESULTS = pathlib.Path(__file__).resolve().parent / "RESULTS.md"


def write_section(heading, text):
    """Replace (or append) the section that starts with ``heading`` ("## ..." or "### ..."),
    keeping every other section as it is. ``text`` includes the heading line."""
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    level = len(heading) - len(heading.lstrip("#"))  # "### x" ends at the next "#"…"###" heading
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^#{{1,{level}}} |\Z)", re.S | re.M)
    text = text.rstrip("\n") + "\n\n"
    new = pattern.sub(lambda _: text, old, count=1) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(new.rstrip("\n") + "\n", encoding="utf-8")


def publish(lines, *, write):
    """Print a section (``lines[0]`` is its heading) and, when ``write``, put it into RESULTS.md."""
    text = "\n".join(lines)
    print(text)
    if write:
        write_section(lines[0], text)
    return text
