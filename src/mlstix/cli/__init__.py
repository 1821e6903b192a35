"""mlstix.cli."""
