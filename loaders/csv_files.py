"""Generic CSV/TSV files for users' own data (registered as ``csv``), with column mapping.

**Folder layout** (what graphrec's generated sample graph is written in; every file has a header row):

=================  ========  =================================================================================
file               required  columns
=================  ========  =================================================================================
interactions.csv   yes       ``user,item`` + optional ``weight`` (number), ``ts`` (integer, e.g. Unix seconds),
                             ``split`` (``train`` / ``valid`` / ``test``, or empty; ``val``, ``validation``,
                             ``dev``, ``training``, ``testing`` ... in any case are read as those)
kg.csv             no        ``head,relation,tail`` + optional ``head_label`` / ``tail_label`` (``Item`` or
                             ``Entity``; without them the head is an ``Item`` and the tail an ``Entity``, or
                             with ``kg_ids=shared`` an id naming an interaction's item is that ``Item``, any other
                             an ``Entity``: files that number items and entities in one space, KGAT/KGCN style)
social.csv         no        ``src,dst`` + optional ``weight``: one FOLLOWS edge per row (add both directions for
                             a friendship)
items.csv          no        ``id`` + any attribute columns → Item properties (kept as strings; empty cells skipped)
users.csv          no        ``id`` + any attribute columns → User properties
entities.csv       no        ``id`` + optional ``labels`` (extra labels, ``;``-separated, e.g. ``Genre``) + attributes
=================  ========  =================================================================================

**Single files**: ``path`` may instead be one interactions file; ``kg=``, ``social=``, ``items=``, ``users=``,
``entities=`` then name the other files (relative to that file's folder, or absolute). In a folder these options
rename the default files. A file named explicitly must exist; a default one is read only when present.

Column options (``user_col``, ``item_col``, ``weight_col``, ``ts_col``, ``split_col``, ``head_col``, ``relation_col``,
``tail_col``, ``head_label_col``, ``tail_label_col``, ``src_col``, ``dst_col``, ``id_col``) rename the columns above;
an optional column named explicitly must exist. ``delimiter`` defaults to a tab for ``.tsv``/``.tab`` files and a
comma otherwise. Values are stripped of surrounding spaces; ids are kept as strings.
"""

from __future__ import annotations

import csv
import io
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

from graphrec.errors import ConfigError, InputError

from ._text import int_value, number_value, read_text
from .records import SPLIT_SPELLINGS, SPLITS, Dataset, Interaction, Node, SocialEdge, Triple

Row = tuple[int, list[str]]  # (1-based line number, cells)
KG_LABELS = ("Item", "Entity")
ATTRIBUTE_FILES = (("items", "Item"), ("users", "User"), ("entities", "Entity"))


def load(path: str | Path, *, interactions: str | None = None, kg: str | None = None, social: str | None = None,
         items: str | None = None, users: str | None = None, entities: str | None = None,
         user_col: str = "user", item_col: str = "item", weight_col: str | None = None, ts_col: str | None = None,
         split_col: str | None = None, head_col: str = "head", relation_col: str = "relation", tail_col: str = "tail",
         head_label_col: str | None = None, tail_label_col: str | None = None, src_col: str = "src",
         dst_col: str = "dst", id_col: str = "id", delimiter: str | None = None,
         encoding: str = "utf-8", kg_ids: str = "apart") -> Dataset:
    """Read your own CSV/TSV files (`graphrec formats csv` shows the files and columns).

    ``path`` is a folder of interactions.csv (+ kg, social, items, users, entities), or one interactions file plus
    the files named by the options. ``kg_ids``: ``apart`` (items and entities numbered apart: the label columns, or
    head Item and tail Entity) or ``shared`` (one id space: an id naming an interaction's item is that item)."""
    if kg_ids not in ("apart", "shared"):
        raise ConfigError(f"csv option kg_ids must be 'apart' or 'shared', got {kg_ids!r}")
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if not path.is_dir() and interactions is None:
        interactions = path.name
    named = {"kg": kg, "social": social, "items": items, "users": users, "entities": entities}

    def file_for(key: str, given: str | None) -> Path | None:
        if given is not None:
            return folder / given
        default = folder / f"{key}.csv"
        return default if path.is_dir() and default.exists() else None

    def table(file: Path) -> _Table:
        return _Table(file, delimiter, encoding)

    dataset = Dataset(name=path.name if path.is_dir() else path.stem)
    source = table(folder / (interactions or "interactions.csv"))
    user, item = source.column(user_col), source.column(item_col)
    weight, ts, split = source.optional(weight_col, "weight"), source.optional(ts_col, "ts"), \
        source.optional(split_col, "split")
    for number, row in source.rows():
        raw = row[split].strip() if split is not None else ""
        value = SPLIT_SPELLINGS.get(raw.lower(), raw)
        if value and value not in SPLITS:
            raise InputError(source.file, f"unknown split {raw!r}; expected one of {list(SPLITS)} (or "
                             f"{', '.join(k for k in SPLIT_SPELLINGS if k not in SPLITS)}) or empty", line=number)
        dataset.interactions.append(Interaction(
            source.id(number, row, user), source.id(number, row, item),
            weight=number_value(source.file, number, row[weight], "weight") if weight is not None and row[weight]
            else None,
            ts=int_value(source.file, number, row[ts], "ts") if ts is not None and row[ts] else None,
            split=value or None))
    dataset.sources.append(source.file)

    if (file := file_for("kg", named["kg"])) is not None:
        source = table(file)
        head, relation, tail = source.column(head_col), source.column(relation_col), source.column(tail_col)
        head_label = source.optional(head_label_col, "head_label")
        tail_label = source.optional(tail_label_col, "tail_label")
        items = {it.item for it in dataset.interactions} if kg_ids == "shared" else None

        def label(number: int, row: list[str], column: int | None, node: str, default: str) -> str:
            if items is not None and column is None:
                return "Item" if node in items else "Entity"
            return source.label(number, row, column, default)

        for number, row in source.rows():
            h, t = source.id(number, row, head), source.id(number, row, tail)
            dataset.triples.append(Triple(h, source.id(number, row, relation), t,
                                          label(number, row, head_label, h, "Item"),
                                          label(number, row, tail_label, t, "Entity")))
        dataset.sources.append(file)

    if (file := file_for("social", named["social"])) is not None:
        source = table(file)
        src, dst, weight = source.column(src_col), source.column(dst_col), source.optional(None, "weight")
        for number, row in source.rows():
            dataset.social.append(SocialEdge(
                source.id(number, row, src), source.id(number, row, dst),
                number_value(file, number, row[weight], "weight") if weight is not None and row[weight] else None))
        dataset.sources.append(file)

    for key, label in ATTRIBUTE_FILES:
        if (file := file_for(key, named[key])) is not None:
            source = table(file)
            ident = source.column(id_col)
            labels = source.optional(None, "labels") if label == "Entity" else None
            for number, row in source.rows():
                props = {name: cell for i, (name, cell) in enumerate(zip(source.header, row))
                         if cell and i not in (ident, labels)}
                extra = tuple(x.strip() for x in row[labels].split(";") if x.strip()) if labels is not None else ()
                dataset.nodes.append(Node(label, source.id(number, row, ident), props, extra))
            dataset.sources.append(file)
    return dataset


class _Table:
    """One delimited file with a header, read whole and checked as its rows are read: ``rows()`` yields (line
    number, stripped cells, as many as the header's) once, in file order, so that a 10^7-line file is never held as
    lists of cells (3 GB and more) beside the records made of it; a loader reads every row before it returns."""

    def __init__(self, file: Path, delimiter: str | None, encoding: str):
        self.file = file
        self.delimiter = delimiter if delimiter is not None else \
            "\t" if file.suffix.lower() in (".tsv", ".tab") else ","
        text = read_text(file, encoding)
        # Lines cut from the text itself: a StringIO would hold a second copy of it, four bytes a character. Bare
        # carriage returns end lines too, as in a file opened with newline=""; such files go through the StringIO.
        self._reader = csv.reader(io.StringIO(text, newline="") if "\r" in text else _lines(text),
                                  delimiter=self.delimiter, strict=True)
        first = next(self._cells(), None)
        if first is None:
            raise InputError(file, "the file is empty")
        self.header_line, self.header = first
        for position, name in enumerate(self.header):
            if not name or name in self.header[:position]:
                raise InputError(file, f"{'empty' if not name else 'repeated'} column name at position "
                                       f"{position + 1} in the header {self.header}", line=self.header_line)
        self._first = next(self._cells(), None)
        if self._first is None:
            raise InputError(file, "the file holds a header but no data")

    def _cells(self) -> Iterator[Row]:
        """The next non-blank rows of stripped cells; a malformed line is an InputError naming it."""
        reader = self._reader
        try:
            for cells in reader:
                if any(cell.strip() for cell in cells):
                    yield reader.line_num, [cell.strip() for cell in cells]
        except csv.Error as exc:
            raise InputError(self.file, f"malformed {'TSV' if self.delimiter == chr(9) else 'CSV'}: {exc}",
                             line=reader.line_num) from None

    def rows(self) -> Iterator[Row]:
        """The data rows, each checked to hold as many fields as the header; one pass only."""
        if self._first is None:
            raise RuntimeError(f"{self.file}: rows() is read once")
        first, self._first = self._first, None
        for number, row in itertools.chain([first], self._cells()):
            if len(row) != len(self.header):
                raise InputError(self.file, f"expected {len(self.header)} fields separated by {self.delimiter!r} "
                                            f"as in the header, found {len(row)}", line=number)
            yield number, row

    def column(self, name: str) -> int:
        """The index of a column that must exist."""
        if name not in self.header:
            raise InputError(self.file, f"no column {name!r}; the header's columns are {self.header}",
                             line=self.header_line)
        return self.header.index(name)

    def optional(self, given: str | None, default: str) -> int | None:
        """A column named by an option (then it must exist), else the default name when the header has it."""
        if given is not None:
            return self.column(given)
        return self.header.index(default) if default in self.header else None

    def id(self, number: int, row: list[str], index: int) -> str:
        """A node's id, one string object per distinct id (a user's id repeats on each of their rows)."""
        if not row[index]:
            raise InputError(self.file, f"empty {self.header[index]!r}", line=number)
        return sys.intern(row[index])

    def label(self, number: int, row: list[str], index: int | None, default: str) -> str:
        if index is None:
            return default
        value = row[index] or default
        if value not in KG_LABELS:
            raise InputError(self.file, f"{self.header[index]!r} must be one of {list(KG_LABELS)}, found {value!r}",
                             line=number)
        return value


def _lines(text: str) -> Iterator[str]:
    """``text``'s lines with their endings, cut one at a time."""
    start, size = 0, len(text)
    while start < size:
        end = text.find("\n", start)
        end = size if end < 0 else end + 1
        yield text[start:end]
        start = end
