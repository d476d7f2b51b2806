"""mova core: the dead-letter domain, store, engine and sandbox. No terminal code lives here."""

__version__ = "0.1.0"
