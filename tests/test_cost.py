"""Cost and Term are cheap immutable tuples underneath; they must still behave as values:
arithmetic field by field (never tuple concatenation or repetition), equality and hashing
without the worked terms, and a clear error for an unknown category."""
import copy
import pickle

import pytest

from torchcount.cost import CATEGORIES, Cost, Term


def test_arithmetic_is_field_by_field():
    a = Cost(macs=3, adds=2, bytes_read=8)
    b = Cost(macs=1, transc=5, bytes_written=4)
    assert a + b == Cost(macs=4, adds=2, transc=5, bytes_read=8, bytes_written=4)
    assert a - b == Cost(macs=2, adds=2, transc=-5, bytes_read=8, bytes_written=-4)
    assert 3 * a == a * 3 == Cost(macs=9, adds=6, bytes_read=24)
    assert sum([a, b, a], Cost()) == Cost(macs=7, adds=4, transc=5, bytes_read=16, bytes_written=4)
    with pytest.raises(TypeError):
        a + (1, 2)  # not a tuple concatenation
    with pytest.raises(TypeError):
        a * 1.5


def test_every_category_is_summed_with_its_own():
    """Each of the nine fields a different number (1…9, and 10…90): a sum, a difference and a multiple are
    field by field in every one, the assignments (the worksheet's ReLU) and the bytes as much as the MACs."""
    a = Cost(*range(1, 10))
    b = Cost(*range(10, 100, 10))
    assert a.as_dict() == dict(zip(CATEGORIES, range(1, 10)))
    assert repr(a) == ("Cost(macs=1, mults=2, adds=3, divs=4, cmps=5, assigns=6, transc=7, bytes_read=8, "
                       "bytes_written=9)")
    assert tuple((a + b).as_dict().values()) == (11, 22, 33, 44, 55, 66, 77, 88, 99)
    assert b + a == a + b and sum([a, b], Cost()) == a + b
    assert tuple((b - a).as_dict().values()) == (9, 18, 27, 36, 45, 54, 63, 72, 81)
    assert tuple((2 * a).as_dict().values()) == (2, 4, 6, 8, 10, 12, 14, 16, 18)
    # every operation counted once (1 + … + 7, the MACs as one), the bytes read and written (8 + 9)
    assert (a.ops, a.bytes, (a + b).ops, (a + b).bytes) == (28, 17, 308, 187)


def test_terms_are_kept_by_of_dropped_by_sums_and_ignored_by_equality():
    t1 = Term("macs", "multiply-accumulates", "N·k", "2×3", 6)
    t2 = Term("params", "parameters", "k", "3", 3)  # explains, counts nothing
    t3 = Term("adds", "bias additions", "N", "2", 2)
    c = Cost.of(t1, None, t2, t3, bytes_read=10)
    assert (c.macs, c.adds, c.bytes_read, c.ops) == (6, 2, 10, 8)
    assert c.terms == (t1, t2, t3)
    assert c == Cost(macs=6, adds=2, bytes_read=10) and hash(c) == hash(Cost(macs=6, adds=2, bytes_read=10))
    assert not c != Cost(macs=6, adds=2, bytes_read=10) and c != Cost(macs=6, adds=2, bytes_read=11)
    assert (c + Cost()).terms == ()
    # a multiple drops them too (a product is no worked line of its own), and is a Cost of the same length,
    # not one with the terms repeated n times tacked on
    assert (c * 3).terms == () and len(c * 3) == len(c) and c * 3 == Cost(macs=18, adds=6, bytes_read=30)
    assert c.with_bytes(1, 2).terms == c.terms and c.with_bytes(1, 2).bytes == 3
    assert c.as_dict() == {**dict.fromkeys(CATEGORIES, 0), "macs": 6, "adds": 2, "bytes_read": 10}


def test_immutable_and_picklable():
    c = Cost.of(Term("cmps", "comparisons", "n", "4", 4))
    with pytest.raises(AttributeError):
        c.macs = 1
    assert pickle.loads(pickle.dumps(c)).terms == c.terms
    assert copy.deepcopy(c) == c and not c.is_zero() and Cost().is_zero()


def test_unknown_category_is_refused():
    with pytest.raises(ValueError, match="unknown cost category 'flops'"):
        Term("flops", "x", "n", "1", 1)


def test_substituted_is_written_out_only_when_read():
    from torchcount.cost import Worked, worked

    lazy = Term("macs", "multiply-accumulates", "N·k·∏kernel", worked("{}×{}×{}", 2, 8, (3, 3)), 144)
    assert isinstance(lazy.raw_substituted, Worked)  # kept as template and numbers
    assert lazy.substituted == "2×8×3×3"  # a tuple value is a product
    assert worked("{}×({} − 1)", 4, []).__str__() == "4×(1 − 1)"  # an empty product is 1
    assert str(worked("2×{}", worked("{}×{}", 3, (4, 5)))) == "2×3×4×5"  # a nested template in place
    bare = Term("adds", "eps additions", "channels", 32, 32)
    assert bare.substituted == "32" and Term("adds", "x", "n", "7", 7).substituted == "7"
    restored = pickle.loads(pickle.dumps(lazy))
    assert restored == lazy and restored.substituted == "2×8×3×3"
    assert Cost.of(lazy).terms[0].substituted == "2×8×3×3"
