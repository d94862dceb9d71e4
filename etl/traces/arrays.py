"""Arrow arrays to and from numpy through their buffers: pyarrow's own converters import pandas.

`pa.array` (and `pa.scalar`, and every compute function given a numpy array or a Python value)
asks whether its input is a pandas object, and `Array.to_numpy` goes through pyarrow's pandas
conversion: either imports pandas at its first call, 0.15 s of every load, which uses no
pandas. So the loader converts here: a numpy array's memory becomes the Arrow array's as it is
(and the other way round), and Python texts are encoded into one buffer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

_OFFSET = np.int32  # Arrow's string type: 32-bit offsets (texts here are far below 2 GiB)


def _bitmap(flags: np.ndarray) -> pa.Buffer:
    """Booleans as an Arrow bitmap: one bit each, least significant bit first."""
    return pa.py_buffer(np.packbits(flags, bitorder="little"))


def from_numpy(values: np.ndarray, *, nulls: np.ndarray | None = None) -> pa.Array:
    """A one-dimensional numpy array of numbers or booleans as an Arrow array of the same type;
    where `nulls` is True, the value is null."""
    values = np.ascontiguousarray(values)
    if values.dtype == np.bool_:
        arrow_type, data = pa.bool_(), _bitmap(values)
    else:
        arrow_type, data = pa.from_numpy_dtype(values.dtype), pa.py_buffer(values)
    validity = None if nulls is None else _bitmap(~np.asarray(nulls, dtype=bool))
    return pa.Array.from_buffers(arrow_type, len(values), [validity, data])


def to_numpy(array: pa.Array | pa.ChunkedArray, *, null: float | None = None) -> np.ndarray:
    """An Arrow array of numbers or booleans as a numpy array (a read-only view of its memory
    where it can be); a null becomes `null`, which must be given if there is any."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    arrow_type, count, offset = array.type, len(array), array.offset
    validity, data = array.buffers()[:2]
    if arrow_type == pa.bool_():
        values = _unpacked(data, offset, count)
    else:
        values = np.frombuffer(
            data, _numpy_dtype(arrow_type), count, offset * arrow_type.byte_width
        )
    if array.null_count:
        if null is None:
            raise ValueError("the array has nulls and no value was given for them")
        values = np.where(_unpacked(validity, offset, count), values, null)
    return values


def _unpacked(bitmap: pa.Buffer, offset: int, count: int) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(bitmap, np.uint8), count=offset + count, bitorder="little")
    return bits[offset:].astype(bool)


def _numpy_dtype(arrow_type: pa.DataType) -> np.dtype:
    if pa.types.is_floating(arrow_type):
        kind = "f"
    elif pa.types.is_unsigned_integer(arrow_type):
        kind = "u"
    elif pa.types.is_signed_integer(arrow_type):
        kind = "i"
    else:
        raise TypeError(f"{arrow_type} is not an array of numbers or booleans")
    return np.dtype(f"{kind}{arrow_type.byte_width}")


def integers(values: Sequence[int | None]) -> pa.Array:
    """Python integers (None: null) as an Arrow int64 array."""
    count = len(values)
    nulls = np.fromiter((value is None for value in values), bool, count)
    numbers = np.fromiter((0 if value is None else value for value in values), np.int64, count)
    return from_numpy(numbers, nulls=nulls if nulls.any() else None)


def strings(values: Sequence[str | None]) -> pa.Array:
    """Python texts (None: null) as an Arrow string array."""
    encoded = [b"" if value is None else value.encode("utf-8") for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=_OFFSET)
    np.cumsum(np.fromiter(map(len, encoded), _OFFSET, len(encoded)), out=offsets[1:])
    nulls = np.fromiter((value is None for value in values), bool, len(values))
    validity = _bitmap(~nulls) if nulls.any() else None
    return pa.Array.from_buffers(
        pa.string(),
        len(encoded),
        [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))],
    )


def empty_strings(count: int) -> pa.Array:
    """`count` empty texts (a column the header does not have)."""
    offsets = pa.py_buffer(np.zeros(count + 1, dtype=_OFFSET))
    return pa.Array.from_buffers(pa.string(), count, [None, offsets, pa.py_buffer(b"")])


def column(values: Sequence[int | str | None], arrow_type: pa.DataType) -> pa.Array:
    """Python values as an Arrow array of `arrow_type` (int64 or string, as rows are stored)."""
    if arrow_type == pa.int64():
        return integers(values)  # type: ignore[arg-type]
    if arrow_type == pa.string():
        return strings(values)  # type: ignore[arg-type]
    raise TypeError(f"no column of {arrow_type} is made here")


def fixed_width_texts(texts: pa.Array, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The texts of an Arrow string array (no nulls) that are `width` bytes long: (which ones,
    their bytes as a numpy array of one row per such text)."""
    count = len(texts)
    _, offsets_buffer, data_buffer = texts.buffers()
    offsets = np.frombuffer(offsets_buffer, _OFFSET, count + 1, texts.offset * 4)
    chosen = np.diff(offsets) == width
    if data_buffer is None or not chosen.any():
        return chosen, np.zeros((0, width), dtype=np.uint8)
    data = np.frombuffer(data_buffer, np.uint8)
    return chosen, data[offsets[:-1][chosen, None] + np.arange(width)]


def fixed_width_strings(texts: np.ndarray, valid: np.ndarray) -> pa.Array:
    """ASCII texts of one width (a numpy array of bytes, one row each) as an Arrow string array;
    where `valid` is False, the text is null (and empty)."""
    count, width = texts.shape
    offsets = np.zeros(count + 1, dtype=_OFFSET)
    np.cumsum(valid * width, out=offsets[1:])
    validity = None if valid.all() else _bitmap(valid)
    return pa.Array.from_buffers(
        pa.string(),
        count,
        [validity, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(texts[valid]))],
    )
