"""mlstix.scan.models."""
