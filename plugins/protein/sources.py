"""Read raw rows from where binding data lives: CSV, TSV, parquet, FASTA, or a Hugging Face hub dataset.

Every row comes back with a location string (``row 7`` counts data rows from 1, header excluded; FASTA says
``record 3 (>id)``) so validation can point at the exact line to fix. No checking happens here.

FASTA carries its columns in the header as ``key=value`` words after the id, for example
``>P12345 label=1`` or ``>complex_9 affinity=7.2 partner=MKT...``; the sequence is the ``sequence`` column.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from boostlora import ConfigError, DataError

HUB_PREFIX = "hf:"
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
PARQUET_SUFFIXES = (".parquet", ".pq")
FASTA_SUFFIXES = (".fasta", ".fa", ".faa", ".fas")

Row = tuple[str, Mapping[str, Any]]


def read_rows(source: str, split: str | None = None) -> list[Row]:
    """Rows of a local file (by suffix) or of ``hf:owner/name`` (``split`` picks the hub split)."""
    if source.startswith(HUB_PREFIX):
        return read_hub(source[len(HUB_PREFIX):], split or "train")
    path = Path(source).expanduser()
    if not path.is_file():
        raise ConfigError(f"data file {path} does not exist (give a CSV/TSV/parquet/FASTA path, hf:NAME, or 'synthetic')")
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return read_table(path, TABLE_SUFFIXES[suffix])
    if suffix in PARQUET_SUFFIXES:
        return read_parquet(path)
    if suffix in FASTA_SUFFIXES:
        return read_fasta(path)
    known = ", ".join([*TABLE_SUFFIXES, *PARQUET_SUFFIXES, *FASTA_SUFFIXES])
    raise ConfigError(f"data file {path} has an unknown suffix '{suffix}' (known: {known})")


def read_table(path: Path, sep: str) -> list[Row]:
    """CSV/TSV read as text, so empty cells stay empty instead of becoming NaN or 0."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise DataError(f"cannot read {path}: {exc}".splitlines()[0]) from exc
    return [(f"row {i + 1}", row) for i, row in enumerate(frame.to_dict("records"))]


def read_parquet(path: Path) -> list[Row]:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as exc:
        raise DataError(f"cannot read {path}: {exc}".splitlines()[0]) from exc
    return [(f"row {i + 1}", row) for i, row in enumerate(frame.to_dict("records"))]


def read_fasta(path: Path) -> list[Row]:
    """Records of a FASTA file; header words ``key=value`` become columns, the id becomes ``id``."""
    rows: list[Row] = []
    header: str | None = None
    chunks: list[str] = []

    def flush() -> None:
        if header is None:
            return
        words = header.split()
        fields: dict[str, Any] = {"id": words[0] if words else ""}
        for word in words[1:]:
            key, sep, value = word.partition("=")
            if sep:
                fields[key] = value
        fields["sequence"] = "".join(chunks)
        rows.append((f"record {len(rows) + 1} (>{fields['id']})", fields))

    for line_no, line in enumerate(read_text(path).splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith(">"):
            flush()
            header, chunks = line[1:], []
        elif header is None:
            raise DataError(f"{path} line {line_no}: sequence text before the first '>' header; is this FASTA?")
        else:
            chunks.append(line)
    flush()
    return rows


def read_text(path: Path) -> str:
    """A text file as UTF-8, with or without a byte-order mark; any other encoding is one line naming it."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"{path} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}; Latin-1 or Windows-1252?): "
            "save it as UTF-8"
        ) from None


def read_hub(name: str, split: str) -> list[Row]:
    """A split of a hub dataset through ``datasets``; offline, only what the local cache holds."""
    try:
        import datasets

        table = datasets.load_dataset(name, split=split)
    except Exception as exc:
        raise ConfigError(
            f"cannot load hub dataset '{name}' split '{split}' ({exc.__class__.__name__}); offline, download it "
            f"first or export it to a local CSV/parquet file"
        ) from exc
    return [(f"row {i + 1} of {name}[{split}]", row) for i, row in enumerate(table)]

