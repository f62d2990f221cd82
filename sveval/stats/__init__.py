"""Statistics beyond point figures: speaker-clustered bootstrap, paired comparisons, subgroups."""
