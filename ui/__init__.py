"""Widgets (docks, plots, viewers). They run algorithms through Processing, never engine internals."""
