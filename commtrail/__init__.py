"""commtrail: phone and mail backups into a provenance-tracked evidence timeline."""

__version__ = "0.1.0"
