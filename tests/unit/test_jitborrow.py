"""A borrowed view is the same array (data, shape, strides) without numba's reference count: writes reach
the owner, strided views read right, tuples of arrays borrow element by element."""

import numpy as np
import pytest
from numba import njit

from kmm.jitborrow import borrow


@njit
def _write_through(a: np.ndarray, i: int, v: int) -> int:
    b = borrow(a)
    b[i] = v
    return b.shape[0] * 1000 + b.ndim


@njit
def _sum_strided(col: np.ndarray) -> int:
    c = borrow(col)
    t = 0
    for i in range(c.shape[0]):
        t += c[i]
    return t


@njit
def _tuple(t: tuple) -> float:
    a, b = borrow(t)
    a[1, 2] = 7
    b[0] += 0.5
    return a[1].sum() + b[0]  # a row view of a borrowed array


def test_a_borrowed_view_writes_into_its_owner() -> None:
    a = np.zeros(5, dtype=np.int64)
    assert _write_through(a, 3, 42) == 5001
    assert a.tolist() == [0, 0, 0, 42, 0]


def test_a_borrowed_view_keeps_the_strides_of_a_structured_column() -> None:
    ev = np.zeros(6, dtype=[("ts", np.int64), ("price", np.int32), ("kind", np.uint8)])
    ev["price"] = [1, 2, 3, 4, 5, 6]
    ev["ts"] = 10**12
    assert _sum_strided(ev["price"]) == 21
    assert _sum_strided(ev["ts"][::2]) == 3 * 10**12


def test_a_tuple_of_arrays_borrows_each_one() -> None:
    a = np.zeros((3, 4), dtype=np.int64)
    b = np.ones(2, dtype=np.float64)
    assert _tuple((a, b)) == pytest.approx(8.5)
    assert a[1, 2] == 7 and b[0] == 1.5


def test_anything_but_arrays_is_a_typing_error() -> None:
    @njit
    def bad(x: int) -> int:
        return borrow(x)

    with pytest.raises(Exception, match="borrow"):
        bad(3)
