"""mlstix.kb."""
