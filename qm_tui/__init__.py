"""qm-tui: quick-migrate Drupal sites between Aegir platforms."""

__version__ = "0.1.0"
