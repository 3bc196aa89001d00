"""Reading and validating the user's YAML: every problem becomes a diagnostic with file and line.

``parse_file`` is pure (one file's text -> its documents and diagnostics) so callers can cache it per
file; ``merge_files`` adds the checks that span files; ``load_directory`` does both for a directory, and
``DirectoryLoader`` does it again and again, re-parsing only the files that changed (for serve).
"""

from gitxds.config.document import Document, FileResult, Issue, LoadedConfig, Rejected
from gitxds.config.files import DEFAULT_LIMITS, Limits
from gitxds.config.loader import DirectoryLoader, LoadedDirectory, load_directory, merge_files, parse_file
from gitxds.config.merge import Merge
from gitxds.config.schema import API_VERSION, KINDS, ConfigObject
from gitxds.config.units import RateValue, format_duration, format_rate, parse_duration, parse_rate

__all__ = [
    "API_VERSION",
    "DEFAULT_LIMITS",
    "KINDS",
    "ConfigObject",
    "DirectoryLoader",
    "Document",
    "FileResult",
    "Issue",
    "Limits",
    "LoadedConfig",
    "LoadedDirectory",
    "Merge",
    "RateValue",
    "Rejected",
    "format_duration",
    "format_rate",
    "load_directory",
    "merge_files",
    "parse_duration",
    "parse_file",
    "parse_rate",
]
