"""Crisis Exchange Gateway: share what a person in crisis needs shared, and nothing more."""

__version__ = "0.1.0"
