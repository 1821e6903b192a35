"""mlstix.scan."""
