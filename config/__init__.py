"""Bundled btfids configuration presets (``*.toml``)."""
