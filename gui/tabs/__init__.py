"""One tab class per task: the main window builds a tab for every TaskSpec from this table.

A task whose tab is not written yet gets a placeholder. Adding a task is a
TaskSpec in ``core/tasks.py``, a tab module here, and one line below.
"""
TAB_CLASSES = {
    "digits": "gui.tabs.digits:DigitsTab",
    "speakers": "gui.tabs.speakers:SpeakersTab",
    "genres": "gui.tabs.genres:GenresTab",
}


def tab_class(task_key):
    """The tab class for a task, or None when it has no tab yet."""
    import importlib

    target = TAB_CLASSES.get(task_key)
    if target is None:
        return None
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)
