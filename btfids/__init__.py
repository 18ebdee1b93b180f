"""btfids: a pluggable, byte-exact Python reimplementation of resolve_btfids."""

__version__ = "0.1.0"
