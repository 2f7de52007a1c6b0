"""The plugin's version, in a module of its own so that the package and its modules import it without a cycle."""
__version__ = "0.1.0"
