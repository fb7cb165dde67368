"""Sets of integers as sorted, merged, inclusive (first, last) intervals: ports and addresses.

Reachability layer, pure. Every set built here is canonical (sorted, disjoint, adjacent
intervals merged) so equal sets compare equal and hash alike.
"""

from __future__ import annotations

from collections.abc import Iterable

Interval = tuple[int, int]
Intervals = tuple[Interval, ...]


def merged(intervals: Iterable[Interval]) -> Intervals:
    """The canonical form of a union of intervals (empty intervals dropped)."""
    result: list[Interval] = []
    for first, last in sorted(interval for interval in intervals if interval[0] <= interval[1]):
        if result and first <= result[-1][1] + 1:
            if last > result[-1][1]:
                result[-1] = (result[-1][0], last)
        else:
            result.append((first, last))
    return tuple(result)


def intersection(left: Intervals, right: Intervals) -> Intervals:
    """The intervals in both canonical sets."""
    result: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        first = max(left[i][0], right[j][0])
        last = min(left[i][1], right[j][1])
        if first <= last:
            result.append((first, last))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return tuple(result)


def difference(left: Intervals, right: Intervals) -> Intervals:
    """The intervals of `left` outside `right` (both canonical)."""
    result: list[Interval] = []
    for first, last in left:
        start = first
        for cut_first, cut_last in right:
            if cut_last < start or cut_first > last:
                continue
            if cut_first > start:
                result.append((start, cut_first - 1))
            start = max(start, cut_last + 1)
            if start > last:
                break
        if start <= last:
            result.append((start, last))
    return tuple(result)


def contains(intervals: Intervals, value: int) -> bool:
    """Whether `value` lies in one of the intervals."""
    return any(first <= value <= last for first, last in intervals)
