"""mlstix.integrity."""
