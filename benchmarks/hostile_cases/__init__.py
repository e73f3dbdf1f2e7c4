"""Hostile cases of round two (issue 17), one module per surface; gathered by benchmarks/hostile_inputs.py.

Each module defines ``make_cases(tmp, good, clip, model)`` returning ``(name, main.py arguments, expect)``
rows, ``expect`` being "error" (one ``error:`` line, non-zero exit, no traceback), "skip" (exit 0, the bad
input listed) or "ok" (no traceback).
"""
