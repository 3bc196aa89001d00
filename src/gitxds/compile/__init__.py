"""Config documents -> the internal model (:mod:`gitxds.ir`), resolving every name between documents.

A document with problems is dropped (see :class:`Dropped`), and so is everything that depends on it;
everything else still compiles, so one broken file never takes unrelated traffic down.
"""

from gitxds.compile.incremental import IncrementalCompiler
from gitxds.compile.pipeline import compile_directory, compile_documents, compile_loaded
from gitxds.compile.result import CompileResult, Dropped

__all__ = [
    "CompileResult",
    "Dropped",
    "IncrementalCompiler",
    "compile_directory",
    "compile_documents",
    "compile_loaded",
]
