"""The package's version, in a module of its own so that any module can import it without importing the
package's ``__init__`` (and, through it, the client)."""

__version__ = "0.4.0"
