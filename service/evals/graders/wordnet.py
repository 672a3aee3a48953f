"""WordNet for METEOR, read offline from a WordNet 3.0 database directory.

NLTK would download its ``wordnet`` corpus at run time; we never download. Debian's
``wordnet-base`` package ships the same WordNet 3.0 database files in ``/usr/share/wordnet``
(``scripts/ensure-wordnet.sh`` installs it), minus the ``lexnames`` table NLTK also reads. The
reader below serves that table from the WordNet 3.0 specification (``lexnames(5WN)``: 45 fixed
lexicographer files) and skips the multilingual mapping we do not use. With no database
directory, ``meteor`` is refused at eval create (400) instead of failing at run time."""

from __future__ import annotations

import functools
import io
import threading
import warnings
from pathlib import Path
from typing import IO, Any

import nltk
from nltk.corpus.reader.wordnet import WordNetCorpusReader
from nltk.data import FileSystemPathPointer

_DATABASE_FILES = ("data.noun", "index.noun", "data.verb", "index.verb", "noun.exc")

_LEXNAMES = [
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
]
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
_LEXNAMES_TABLE = "".join(
    f"{i:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(_LEXNAMES)
)

_lock = threading.Lock()


class _DebianWordNet(WordNetCorpusReader):  # type: ignore[misc]
    def open(self, fileid: str) -> IO[str] | Any:
        if fileid == "lexnames" and not Path(str(self.root), "lexnames").exists():
            return io.StringIO(_LEXNAMES_TABLE)
        return super().open(fileid)

    def map_wn(self, version: str = "wordnet") -> None:
        return None


def is_database(directory: Path) -> bool:
    return all((directory / name).is_file() for name in _DATABASE_FILES)


@functools.cache
def _load(directory: str) -> WordNetCorpusReader:
    # NLTK only opens corpora under its data path.
    if directory not in nltk.data.path:
        nltk.data.path.append(directory)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available"
        return _DebianWordNet(FileSystemPathPointer(directory), None)


def wordnet(directory: Path) -> WordNetCorpusReader:
    """The reader for ``directory`` (loaded once per process, ~2 s)."""
    with _lock:
        return _load(str(directory.resolve()))
