"""Command-line interface (`mali-uio`)."""
