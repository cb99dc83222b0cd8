"""The allocator switch around heavy CPU work: nested uses and errors leave the defaults restored once."""

import pytest

from llmrec import heap

pytestmark = pytest.mark.skipif(heap._glibc() is None, reason="the switch exists only with glibc")


def test_nested_uses_switch_back_only_at_the_outermost_exit():
    with heap.large_buffers_reused():
        with heap.large_buffers_reused():
            assert heap._depth == 2
        assert heap._depth == 1  # the outer block still runs with the heap
    assert heap._depth == 0


def test_an_error_inside_propagates_and_switches_back():
    with pytest.raises(ZeroDivisionError):
        with heap.large_buffers_reused():
            1 / 0
    assert heap._depth == 0
    with heap.large_buffers_reused():  # usable again
        assert bytearray(64 << 20)[-1] == 0  # a large allocation, served from the heap
