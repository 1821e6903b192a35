"""mlstix.scan.rules."""
