"""mlstix.scan.iac."""
