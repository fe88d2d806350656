"""The package version, importable without the package's lazy entry points (see __init__)."""

__version__ = "0.1.0"
