"""Hostile cases of round two (issue 17): ``sweep --grid`` values, checked by the rules of the single flags
before any work. (Ctrl-C and ``kill -9`` of a sweep are signals, tested in tests/hostile/test_round2_sweep.py.)"""

BAD_GRID_VALUES = (
    ("lr=abc", "a learning rate that is not a number"),
    ("lr=-1", "a negative learning rate"),
    ("seed=-1", "a negative seed"),
    ("seed=abc", "a seed that is not a number"),
    ("test_size=2", "a test size above 1"),
    ("test_size=abc", "a test size that is not a number"),
    ("epochs=2.5", "a fractional epoch count"),
    ("early_stopping=maybe", "a switch that is neither on nor off"),
    ("split=loso", "leave-one-speaker-out as a swept split"),
    ("C=1", "a setting the MLP does not have"),
)


def make_cases(tmp, good, clip, model):
    del tmp, clip, model
    return [(f"sweep --grid {grid} ({what})", ["sweep", "--data", good, "--grid", "hidden=8;16", "--grid", grid,
                                               "--epochs", "2", "--no-cache"], "error")
            for grid, what in BAD_GRID_VALUES]
