"""Borrowed array views for kmm's compiled loops: the same arrays without their reference count.

numba counts the references to every array passed between compiled functions with a locked increment
and decrement (``NRT_incref`` / ``NRT_decref``) wherever its optimiser cannot prove them needless. The
backtest kernel calls small functions with a dozen arrays for every cell at every decision, and on the
1,024-cell grid those locked instructions took about three quarters of the run (``perf`` on the
kernel's thread); the quoting core's many-sets loop paid them for its two price-grid tables at every
row. A borrowed view has a null reference holder, for which numba's runtime does nothing: a loop's
entry point borrows what it was given once, and everything it calls works on the borrowed views.

Safe while the owner keeps the arrays alive and no borrowed view outlives the call: the entry points
that borrow are called from Python, which holds every argument for the whole call; they return only
numbers and never store an array anywhere that outlives them.
"""

from __future__ import annotations

from typing import Any

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _borrowed(context: Any, builder: Any, ty: types.Array, value: Any) -> Any:
    src = context.make_array(ty)(context, builder, value=value)
    dst = context.make_array(ty)(context, builder)
    for name in ("nitems", "itemsize", "data", "shape", "strides"):
        setattr(dst, name, getattr(src, name))
    dst.meminfo = cgutils.get_null_value(dst.meminfo.type)
    dst.parent = cgutils.get_null_value(dst.parent.type)
    return dst._getvalue()


@intrinsic
def borrow(typingctx: Any, value: Any) -> Any:
    """An array, or a tuple of arrays, as views with a null reference holder (the data, shape and
    strides shared)."""
    if isinstance(value, types.Array):
        def one(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            return _borrowed(context, builder, value, args[0])

        return value(value), one
    if isinstance(value, types.BaseTuple) and all(isinstance(t, types.Array) for t in value.types):
        def each(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            items = [_borrowed(context, builder, t, builder.extract_value(args[0], k))
                     for k, t in enumerate(value.types)]
            return context.make_tuple(builder, value, items)

        return value(value), each
    return None
