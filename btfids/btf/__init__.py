"""BTF: the data model, codec and libbpf-equivalent algorithms. Imports nothing else
from the project."""

from . import kinds
from .model import HOST_ORDER, Btf, BtfError

__all__ = ["HOST_ORDER", "Btf", "BtfError", "kinds"]
