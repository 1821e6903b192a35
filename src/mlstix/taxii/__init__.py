"""mlstix.taxii."""
