"""Where a run's events go: captured into the result, shown live, written to a file, filtered."""
