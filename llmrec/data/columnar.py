"""The columnar engine for big JSON-lines sources: pyarrow streams a file in record batches of typed columns.

Why pyarrow (benchmarks/json_engines.py measures it against DuckDB and polars on the same dump; figures in
benchmarks/README.md "Data at scale"): its streaming reader is as fast as DuckDB's on the six keys llmrec reads,
in half the memory, and keeps file order batch by batch, so a column set aside can be lined up with the rows
kept later; DuckDB's results carry no file row number, and polars reads the whole decompressed file into
memory first. pyarrow is also a dependency already (the prepared cache is parquet).

The engine is strict: a batch it cannot type (a key holding a number where text is expected, a line that is not
an object, broken UTF-8, a missing key) raises `Refused`, and the caller reads the file line by line instead,
which accepts what today's rules accept and names the file and line of anything it cannot. So the engine is
an acceleration of the line reader, never a second set of rules.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from llmrec.data.sources import MAX_UNIX_TIME, RATING_SCALE, is_gzip

BLOCK_BYTES = 16 << 20  # a line longer than a block is refused (and read line by line)
# What Python's str.strip() and str.isspace() count as whitespace (Python 3.11), as a regex class.
PYTHON_SPACE = r"[\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"


class Refused(Exception):
    """The engine will not read this file; the line reader will (and report the line at fault)."""


def batches(path: Path, columns: dict[str, pa.DataType]) -> Iterator[pa.RecordBatch]:
    """The file's `columns` in record batches, in file order (other keys are skipped unparsed; a key a line
    lacks is null). Every batch is checked in full, UTF-8 included."""
    schema = pa.schema(list(columns.items()))
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    try:
        stream = pa.input_stream(str(path), compression="gzip" if is_gzip(path) else None)
        reader = pj.open_json(stream, read_options=pj.ReadOptions(block_size=BLOCK_BYTES), parse_options=options)
        for batch in reader:
            batch.validate(full=True)  # the parser does not check UTF-8
            yield batch
    except (pa.ArrowException, OSError, ValueError) as e:
        raise Refused(str(e)) from None


class Spill:
    """Columns set aside on disk (Arrow IPC, LZ4) in file order while a first pass decides which rows to keep:
    one read of the source, and memory that holds the kept rows only. A temporary file, gone on close."""

    def __init__(self, names: list[str]):
        self.folder = tempfile.TemporaryDirectory(prefix="llmrec-spill-")
        self.path = Path(self.folder.name) / "columns.arrow"
        self.schema = pa.schema([(n, pa.string()) for n in names])
        self.writer = pa.ipc.new_file(str(self.path), self.schema,
                                      options=pa.ipc.IpcWriteOptions(compression="lz4"))
        self.writing = True

    def write(self, batch: pa.RecordBatch) -> None:
        self.writer.write_batch(pa.record_batch([batch[n] for n in self.schema.names], schema=self.schema))

    def _finish_writing(self) -> None:
        if self.writing:
            self.writer.close()
            self.writing = False

    def kept(self, keep: np.ndarray) -> Iterator[pa.RecordBatch]:
        """The rows `keep` marks, batch by batch in file order (a batch at a time in memory)."""
        self._finish_writing()
        start = 0
        with pa.OSFile(str(self.path)) as source:  # read, not mapped: mapped pages would count as resident
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                batch = reader.get_batch(i)
                yield batch.filter(pa.array(keep[start:start + len(batch)]))
                start += len(batch)

    def close(self) -> None:
        self._finish_writing()
        self.folder.cleanup()

    def __enter__(self) -> "Spill":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def require(ok: pa.Array | np.ndarray) -> None:
    """Refuse unless every value is true (nulls count as false)."""
    if isinstance(ok, (pa.Array, pa.ChunkedArray)):
        ok = pc.fill_null(ok, False).to_numpy(zero_copy_only=False)
    if not np.all(ok):
        raise Refused("a value outside the engine's rules")


def identifier(column: pa.Array) -> pa.Array:
    """An id column: text on every line and not blank (str(value).strip() non-empty), as the line reader asks."""
    require(pc.is_valid(column))
    require(pc.invert(pc.match_substring_regex(column, f"^{PYTHON_SPACE}*$")))
    return column


def ratings(column: pa.Array) -> np.ndarray:
    low, high = RATING_SCALE
    require(pc.and_(pc.greater_equal(column, low), pc.less_equal(column, high)))
    return column.to_numpy(zero_copy_only=False)


def unix_seconds(column: pa.Array, per_second: int) -> np.ndarray:
    """Whole seconds as sources.unix_time computes them: int(number) // per_second, |t| < 2**53 s."""
    values = column.to_numpy(zero_copy_only=False) if column.null_count == 0 else None
    require(values is not None and np.all(np.isfinite(values) & (np.abs(values) / per_second <= MAX_UNIX_TIME)))
    return np.trunc(values).astype(np.int64) // per_second


def cleaned_texts(column: pa.Array, clean) -> pa.Array:
    """`clean(value)` for every value (null -> ""), calling Python only on the values it can change: those with
    leading or trailing whitespace or an '&' (for html.unescape). The rest are kept as they are."""
    column = pc.fill_null(column, "")
    touched = pc.match_substring_regex(column, f"^{PYTHON_SPACE}|{PYTHON_SPACE}$|&")
    if not pc.any(touched).as_py():
        return column
    fixed = pa.array([clean(s) for s in column.filter(touched).to_pylist()], type=pa.string())
    return pc.replace_with_mask(column, touched, fixed)


def kcore_rows(users: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    """Rows (as a mask) of the k-core: every kept user and item has >= k kept rows. Rows are removed in rounds
    until none goes (dropping a sparse item can push a user under k); the k-core is unique, so this is the set
    any order of removal reaches. `users`, `items`: integer codes from 0."""
    keep = np.ones(len(users), dtype=bool)
    if k <= 1:
        return keep
    while True:
        u, i = users[keep], items[keep]
        ok = (np.bincount(u)[u] >= k) & (np.bincount(i)[i] >= k)
        if ok.all():
            return keep
        keep[np.flatnonzero(keep)[~ok]] = False
