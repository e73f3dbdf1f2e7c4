"""One tab class per task: the main window builds a tab for every TaskSpec from this table.

A task whose tab is not written yet gets a placeholder. Adding a task is a
TaskSpec in ``core/tasks.py``, a tab module here, and one line below.

The titles are repeated here (``tests/gui/test_startup.py`` checks they match
``core.tasks.TASKS``, in order) so that the window can paint its tab bar
before NumPy, pyqtgraph or any task module is imported.
"""
#: task key -> (tab title, "module:Class"), in the order of core.tasks.TASKS
TAB_CLASSES = {
    "digits": ("Digits", "gui.tabs.digits:DigitsTab"),
    "genres": ("Genres", "gui.tabs.genres:GenresTab"),
    "speakers": ("Speakers", "gui.tabs.speakers:SpeakersTab"),
}


def tab_class(task_key):
    """The tab class for a task, or None when it has no tab yet."""
    import importlib

    entry = TAB_CLASSES.get(task_key)
    if entry is None:
        return None
    module, _, name = entry[1].partition(":")
    return getattr(importlib.import_module(module), name)
