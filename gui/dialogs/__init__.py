"""Dialogs: short, modal tasks (enrolling a speaker, ...)."""
