"""Bounds that config, layers and the engine check numbers against, in one place."""

#: The longest time, in seconds, anything may be given to wait or run (about 31 years):
#: longer overflows the clocks and thread waits that runs are timed with.
MAX_SECONDS = 1e9
