"""Ops called with sparse operands (COO, CSR, CSC, BSR, BSC): a graph convolution's ``torch.sparse.mm(A,
X)``, a pruned layer's ``W_csr @ x``, an embedding's sparse gradient added into its weight.

PyTorch runs other kernels for them, which touch the stored values only, so the dense rules (which
price ``numel`` elements) never see a sparse operand: a call with one is priced by a rule
registered here with ``sparse=True``, or is uncounted and listed as ``… (on sparse tensors)``.
V below is the values a sparse operand stores (its ``nnz`` times a block's size for BSR/BSC, times
the dense dimensions' size for a hybrid COO tensor); bytes are those of the values and the indices.

- sparse·dense products (``mm``, ``addmm``, ``_sparse_addmm``, ``_sparse_mm``, ``bmm``, ``mv``,
  ``addmv``, ``hspmm``): V·n MACs for a sparse (m×k) times a dense (k×n) — every stored value
  multiplies one row of the dense operand; m·V for a dense (m×k) times a sparse (k×n); then ``addmm``'s
  β·M + α·(product) per output, as for dense operands (``torch.sparse.mm`` given two dense operands
  runs ``_sparse_addmm`` too: m·k·n). ``sampled_addmm``: a dot product of length k per value the mask
  stores, V·k MACs, then β·S + α·(…) per stored value. ``sspaddmm`` (and ``smm``), a sparse output:
  V·n MACs, V mults for α ≠ 1, nnz_S + V·n mults for β ≠ 1 (no additions: S's entries are kept beside
  the product's). A sparse·sparse product's work depends on
  where the values lie (Σ over k of the stored values in column k of A times those in row k of B):
  uncounted.
- element-wise ops that keep zeros zero (negation, ReLU, tanh, sqrt, …, multiplication or division by
  a scalar): the dense op's own rule over the V stored values. The non-linear kernels (all but
  negation, conjugation and scaling; a rounding division too) coalesce an uncoalesced COO input first,
  unrecorded: ``coalesce``'s terms, then the op on the coalesced values. A sparse tensor times or
  divided by a dense one: V multiplications (divisions), reading V elements of the dense one. Sparse
  times sparse: one multiplication per output value (the indices both store).
- a dense tensor plus or minus a sparse one (``dense + A``, ``W.add_(sparse_grad, alpha=-lr)``): V
  additions (and V multiplications for α ≠ 1). Sparse plus sparse: one addition per pair of stored
  values at the same index, nnz_a + nnz_b − nnz_out (exact: the output's nnz is known), times the values
  per index.
- ``coalesce``: the indices sorted (nnz·⌈log2 nnz⌉ comparisons, as ``sort``'s rule counts a comparison
  sort) and the values of repeated indices summed (nnz_in − nnz_out additions per value).
- ``sum`` of every value: V − 1 additions. ``pow`` by a positive scalar: the dense rule on the
  stored values (after the kernel's coalesce). ``index_select``: no arithmetic.
- a dense tensor made sparse (``to_sparse``): every element compared with zero; the other layout
  conversions, ``to_dense``, and reading the values or indices move data only.

Index arithmetic (linearising COO indices, merging sorted index lists) is not counted, as for dense
indexing. A sum over some dimensions: V − (values the output stores) additions, and for COO the
sort of the indices kept (exact: the output's nnz is known). Softmax over a sparse dimension and
sparse·sparse products depend on where the values lie, and stay uncounted.
"""
from __future__ import annotations

import math

from ..capture import OpCall, TensorMeta, _itemsize
from ..cost import Cost, Term, worked
from ._util import reduced, schema_arg
from .complex import in_real_ops, op_complex_mode
from .elementwise import _packets
from .matmul import _scaled_sum_terms
from .registry import aten, op_rule, op_rule_for, why_uncounted, zero_ops

# reading a sparse tensor's parts, building one from them, and changing its layout: no arithmetic
zero_ops(*_packets(
    "_values", "values", "_indices", "indices", "crow_indices", "col_indices", "ccol_indices", "row_indices",
    "_coalesced", "sparse_coo_tensor", "_sparse_coo_tensor_unsafe", "_sparse_coo_tensor_with_dims",
    "_sparse_coo_tensor_with_dims_and_tensors", "sparse_compressed_tensor", "_sparse_compressed_tensor_unsafe",
    "sparse_csr_tensor", "_sparse_csr_tensor_unsafe", "sparse_csc_tensor", "sparse_bsr_tensor",
    "sparse_bsc_tensor", "_to_dense", "to_dense", "sparse_resize", "sparse_resize_and_clear",
    # what a sparse tensor is (its nnz, whether it is coalesced, its dims): metadata, read by PyG's
    # GCN normalisation and its SparseTensor-free adj_t checks (torch 2.2 dispatches is_coalesced
    # for any caller)
    "_nnz", "is_coalesced", "sparse_dim", "dense_dim", "_dimI", "_dimV",
    # COO row indices compressed to CSR's and back (index arithmetic: a count and a running sum
    # of indices, not counted, as for dense indexing)
    "_convert_indices_from_coo_to_csr", "_convert_indices_from_csr_to_coo",
    # the gradient of a sum over some dimensions: the output gradient's values copied to the input's
    # indices (expanded over the summed dense dimensions; found by a binary search over the kept indices)
    "_sparse_sum_backward",
))


def _sparse(t) -> bool:
    return isinstance(t, TensorMeta) and t.sparse is not None


# ---- products --------------------------------------------------------------------------------
@op_rule(aten.mm, aten.addmm, aten._sparse_addmm, aten._sparse_mm, aten.bmm, aten.hspmm, aten.mv, aten.addmv,
         sparse=True)
@op_rule(aten._sparse_addmm, aten._sparse_mm)
def sparse_product(op) -> Cost | None:
    """A sparse (…×m×k) times a dense (k×n): V·n MACs; a dense (m×k) times a sparse (k×n): m·V
    (``mv``: n = 1); ``addmm``/``addmv``: β·M + α·(product) per output, as for dense operands."""
    name = op.op.overloadpacket.__name__
    if name in ("addmm", "_sparse_addmm", "addmv"):
        bias, a, b = op.args[:3]
    else:
        (a, b), bias = op.args[:2], None
    if not (isinstance(a, TensorMeta) and isinstance(b, TensorMeta)) or _sparse(a) and _sparse(b):
        return None  # sparse·sparse: the work depends on where the values lie
    if not _sparse(a) and not _sparse(b):  # torch.sparse.mm given dense operands: a dense product
        m, k = a.shape[-2:]
        terms = [Term("macs", f"multiply-accumulates ({name})", "m·k·n", worked("{}×{}×{}", m, k, b.shape[-1]),
                      m * k * b.shape[-1])]
    elif _sparse(a):
        n = 1 if name in ("mv", "addmv") else b.shape[-1]
        terms = [Term("macs", f"multiply-accumulates ({name}: each stored value of the sparse A times a row of B)",
                      "V·n", worked("{}×{}", a.sparse.values, n), a.sparse.values * n)]
    else:
        m = a.shape[-2]
        terms = [Term("macs", f"multiply-accumulates ({name}: each row of A times each stored value of the sparse B)",
                      "m·V", worked("{}×{}", m, b.sparse.values), m * b.sparse.values)]
    if bias is not None:
        out = op.outputs[0]
        if out.sparse is not None:
            return None
        terms += _scaled_sum_terms(op, out.numel, "outputs", "A·B")
    return Cost.of(*terms)


@op_rule(aten.sspaddmm, sparse=True)
def sspaddmm(op) -> Cost | None:
    """``torch.sspaddmm(S, A, B, beta, alpha)`` = β·S + α·(A·B), A sparse (m×k), B dense (k×n), the output
    sparse (``torch.smm(A, B)`` runs it with an empty S, β = 0, α = 1), as ``_sspaddmm_out_cpu`` computes
    it: each of A's V stored values scaled by α (V multiplications for α ≠ 1) and times a row of B added
    into its row of the output (V·n MACs); S's values copied in and the whole value buffer (its
    nnz_S + V·n entries) multiplied by β when S stores any (none for β = 1; S passed as the output too is
    described after the call: only torch.smm's, β = 0 and empty, is priced). The sum is not formed: the
    output stores S's entries and the product's side by side (uncoalesced), so no additions. An
    uncoalesced A is coalesced first to an nnz not known here: uncounted."""
    s, a, b = op.args[:3]
    if not (_sparse(s) and _sparse(a)) or not isinstance(b, TensorMeta) or _sparse(b) or a.sparse.coalesced is False:
        return None
    v, n, s_nnz = a.sparse.values, b.shape[-1], s.sparse.nnz
    beta, alpha = schema_arg(op, "beta", 1), schema_arg(op, "alpha", 1)
    if s == op.kwargs.get("out"):  # S is the output (described after the call): what it stored before is unknown,
        if beta != 0:              # but for torch.smm's call, an empty result with β = 0
            return None
        s_nnz = 0
    scaled = s_nnz + v * n
    return Cost.of(
        Term("macs", "multiply-accumulates (sspaddmm: each stored value of A times a row of B)", "V·n",
             worked("{}×{}", v, n), v * n),
        Term("mults", "scaling α·(each stored value of A)", "V", v, v) if alpha != 1 else None,
        Term("mults", "scaling β·(the output's value buffer: S's values and the product's)", "nnz_S + V·n",
             worked("{} + {}×{}", s_nnz, v, n), scaled) if s_nnz and beta != 1 else None)


#: _sparse_mm_reduce_impl's reduce → (category, word) of combining a product into its output row
_MM_REDUCE = {"sum": ("adds", "additions"), "mean": ("adds", "additions"), "amax": ("cmps", "comparisons"),
              "amin": ("cmps", "comparisons"), "max": ("cmps", "comparisons"), "min": ("cmps", "comparisons")}


@op_rule(aten._sparse_mm_reduce_impl, sparse=True)
def sparse_mm_reduce(op) -> Cost | None:
    """``torch.sparse.mm(A, B, reduce)`` (A sparse CSR m×k, B dense k×n; PyG's ``spmm`` of an
    ``adj_t``), as the CPU kernel (SpmmReduceKernel.cpp) computes it: each stored value times a row of
    B, each product combined into its output row. 'sum': V·n MACs, as ``torch.sparse.mm(A, B)``;
    'mean': the same, then each row that stores a value divided by its count (n divisions per row: at
    most min(m, nnz) rows, taken as that — exact when every row stores one; only shapes reach the rule);
    'amax'/'amin': V·n multiplications and V·n comparisons (each product against the row's running
    extremum, which also records its argument)."""
    a, b = op.args[0], op.args[1]
    reduce = op.args[2] if len(op.args) > 2 else op.kwargs.get("reduce")
    if not _sparse(a) or _sparse(b) or not isinstance(b, TensorMeta) or reduce not in _MM_REDUCE:
        return None
    v, n, m = a.sparse.values, b.shape[-1], a.shape[-2]
    products = worked("{}×{}", v, n)
    if reduce in ("sum", "mean"):
        rows = min(m, a.sparse.nnz)
        return Cost.of(
            Term("macs", f"multiply-accumulates (sparse.mm, {reduce}: each stored value times a row of B)", "V·n",
                 products, v * n),
            Term("divs", "divisions (mean: each row that stores a value by its count)", "min(m, nnz)·n",
                 worked("min({}, {})×{}", m, a.sparse.nnz, n), rows * n) if reduce == "mean" else None)
    category, what = _MM_REDUCE[reduce]
    return Cost.of(Term("mults", f"multiplications (sparse.mm, {reduce}: each stored value times a row of B)", "V·n",
                        products, v * n),
                   Term(category, f"{what} (sparse.mm, {reduce}: against the row's running extremum)", "V·n",
                        products, v * n))


@op_rule(aten._sparse_mm_reduce_impl_backward, sparse=True)
def sparse_mm_reduce_backward(op) -> Cost | None:
    """``_sparse_mm_reduce_impl_backward(A, grad_out (m×n), B (k×n), reduce, arg_out, output_mask)``,
    as the CPU kernels compute it. The gradient of B (``output_mask[1]``): 'sum' Aᵀ·G, V·n MACs;
    'mean' the same after each stored value is divided by its row's count (V divisions); 'amax'/'amin'
    each output's gradient times the value its extremum came from and added into that row of B's
    gradient (m·n multiplications and additions: an upper bound, a row that stores nothing adds none).
    The gradient of A's values (``output_mask[0]``, a learnt adjacency): 'sum'/'mean' a dot product of
    length n per stored value (V·n MACs, and V divisions for a mean); 'amax'/'amin' m·n multiplications
    and additions, as for B."""
    a, grad = op.args[0], op.args[1]
    reduce = op.args[3] if len(op.args) > 3 else op.kwargs.get("reduce")
    mask = op.args[5] if len(op.args) > 5 else op.kwargs.get("output_mask", (True, True))
    if not _sparse(a) or not isinstance(grad, TensorMeta) or reduce not in _MM_REDUCE:
        return None
    v, n, out = a.sparse.values, grad.shape[-1], grad.numel
    terms = []
    for wanted, of in zip(mask, ("A's values", "B")):
        if not wanted:
            continue
        if reduce in ("sum", "mean"):
            terms.append(Term("macs", f"multiply-accumulates (gradient of {of})", "V·n", worked("{}×{}", v, n), v * n))
            if reduce == "mean":
                terms.append(Term("divs", f"divisions (gradient of {of}: stored values by their row's count)", "V",
                                  v, v))
        else:
            terms += [Term("mults", f"multiplications (gradient of {of}: at each output's extremum)", "m·n",
                           worked("{}", grad.shape), out),
                      Term("adds", f"additions (gradient of {of}: into its source)", "m·n", worked("{}", grad.shape),
                           out)]
    return Cost.of(*terms)


@op_rule(aten.sparse_sampled_addmm, sparse=True)
def sampled_addmm(op) -> Cost | None:
    """``torch.sparse.sampled_addmm(S, A (m×k), B (k×n), beta, alpha)``: β·S + α·(A·B) computed only
    where S stores a value (its pattern is the output's): a dot product of length k per stored value,
    V·k MACs, then β·S + α·(…) per stored value as ``addmm``'s terms."""
    s, a = op.args[0], op.args[1]
    if not _sparse(s) or not isinstance(a, TensorMeta):
        return None
    v, k = s.sparse.values, a.shape[-1]
    return Cost.of(Term("macs", "multiply-accumulates (a row of A times a column of B at each stored index)", "V·k",
                        worked("{}×{}", v, k), v * k),
                   *_scaled_sum_terms(op, v, "V", "A·B"))


# ---- element-wise ----------------------------------------------------------------------------
_ZERO_KEEPING = _packets(
    "neg", "abs", "relu", "sgn", "sign", "sin", "sinh", "tan", "tanh", "asin", "asinh", "atan", "atanh", "sqrt",
    "expm1", "log1p", "erf", "erfinv", "trunc", "floor", "ceil", "round", "frac", "deg2rad", "rad2deg", "square",
    "nan_to_num", "signbit", "isnan", "isinf", "isposinf", "isneginf", "angle", "conj_physical", "positive",
)
#: those whose sparse kernel maps the stored values as they are, repeated indices too (linear in
#: each value: negation, conjugation, identity); the others (SparseUnaryOps.cpp, and ``abs``,
#: ``sgn``, ``isnan``, … in SparseTensorMath.cpp) coalesce an uncoalesced COO input first, as f(a) +
#: f(b) ≠ f(a + b)
_KEEPS_DUPLICATES = set(_packets("neg", "conj_physical", "positive"))


def _on_values(t, values: int | None = None):
    """A sparse operand as the dense vector of its stored values (``values`` of them when given: an
    input the kernel coalesces first); anything else as it is."""
    if _sparse(t):
        return TensorMeta((t.sparse.values if values is None else values,), t.dtype, t.aliased)
    if isinstance(t, (list, tuple)) and not isinstance(t, TensorMeta):
        return type(t)(_on_values(v, values) for v in t)
    return t


@op_rule(*_ZERO_KEEPING, sparse=True, complex_aware=True)
def on_stored_values(op) -> Cost | None:
    """An element-wise op that maps zero to zero, on a sparse tensor: the dense op's own rule over
    the V stored values (the zeros it does not store stay zero). The non-linear kernels coalesce an
    uncoalesced COO input first: that coalesce's terms, then the op on the coalesced values."""
    return _priced_on_values(op, coalescing=op.op.overloadpacket not in _KEEPS_DUPLICATES)


def _coalesce_terms(nnz: int, nnz_out: int, per_index: int, why: str = "") -> list:
    """``coalesce``'s terms: nnz·⌈log2 nnz⌉ comparisons sorting the indices, (nnz_in − nnz_out)
    additions per value summing those repeated."""
    log = math.ceil(math.log2(nnz)) if nnz > 1 else 0
    return [Term("cmps", f"comparisons (sorting the indices{why})", "nnz·⌈log2 nnz⌉", worked("{}×{}", nnz, log),
                 nnz * log),
            Term("adds", f"additions (values of repeated indices{why})", "(nnz_in − nnz_out)·per index",
                 worked("({} − {})×{}", nnz, nnz_out, per_index), max(nnz - nnz_out, 0) * per_index)]


def _coalesced_first(op) -> tuple[list, int | None]:
    """The kernel's own coalesce of an uncoalesced COO input (unrecorded: it runs inside the kernel):
    its terms, and the values left (the output's, which stores the coalesced input's indices); no
    terms and None for a coalesced or compressed input."""
    a, out = op.args[0] if op.args else None, op.outputs[0] if op.outputs else None
    if not _sparse(a) or a.sparse.coalesced is not False or not isinstance(out, TensorMeta) or out.sparse is None:
        return [], None
    per_index = a.sparse.values // a.sparse.nnz if a.sparse.nnz else 1
    return _coalesce_terms(a.sparse.nnz, out.sparse.nnz, per_index, ": the kernel coalesces its input first"), \
        out.sparse.values


def _priced_on_values(op, coalescing: bool = False) -> Cost | None:
    first, values = _coalesced_first(op) if coalescing else ([], None)
    dense = OpCall(op.op, tuple(_on_values(a, values) for a in op.args),
                   {k: _on_values(v, values) for k, v in op.kwargs.items()}, _on_values(op.output))
    rule = op_rule_for(op.op)
    cost = rule(dense) if rule is not None else None
    if cost is None:
        return None
    if not rule.complex_aware:  # in real operations as the dense op's would be, once (the callers are complex-aware)
        cost = _in_real_ops(cost, dense)
    where = f"the {_values_word(op)} stored values" if values is None else f"the {values} values it coalesced to"
    return Cost.of(*first, *[t._replace(what=f"{t.what} — on {where}") for t in cost.terms]) \
        if cost.terms or first else cost


def _values_word(op) -> str:
    return next(str(t.sparse.values) for t in op.inputs if t.sparse is not None)


def _in_real_ops(cost: Cost, op) -> Cost:
    """``cost`` in real operations when ``op`` has complex operands (rules/complex.py)."""
    mode = op_complex_mode(op)
    return cost if mode is None else in_real_ops(cost, mode)


@op_rule(*_packets("mul", "div"), sparse=True, complex_aware=True)
def sparse_scaled(op) -> Cost | None:
    """A sparse tensor times (or divided by) a scalar: the dense rule on its V stored values. Times
    (divided by) a dense tensor of its shape: V multiplications (divisions) — the dense operand is read
    only where the sparse one stores a value. Sparse times sparse: one multiplication per output value
    (``_sparse_times_sparse``). A dense tensor divided by a sparse one, or a sparse one divided by a
    sparse one: uncounted (mostly division by zero)."""
    a, b = op.args[0], op.args[1] if len(op.args) > 1 else op.kwargs.get("other")
    if not _sparse(a) and _sparse(b) and op.op.overloadpacket is aten.mul:
        a, b = b, a  # multiplication commutes
    if _sparse(a) and _sparse(b) and op.op.overloadpacket in (aten.mul, aten.mul_):
        cost = _sparse_times_sparse(op, a, b)
        return None if cost is None else _in_real_ops(cost, op)
    if not _sparse(a) or _sparse(b):
        return None
    if not isinstance(b, TensorMeta) or not b.shape:  # a scalar (or a 0-d tensor): every stored value scaled
        # (repeated indices too: the sum scales with them), but a rounding division coalesces first
        return _priced_on_values(op, coalescing=schema_arg(op, "rounding_mode") is not None)
    if tuple(b.shape) != tuple(a.shape) or schema_arg(op, "rounding_mode") is not None:
        return None
    category = "mults" if op.op.overloadpacket in (aten.mul, aten.mul_) else "divs"
    v = a.sparse.values
    out_bytes = sum([t.nbytes for t in op.outputs if not t.aliased])
    return _in_real_ops(Cost.of(Term(category, f"{'multiplications' if category == 'mults' else 'divisions'} (a stored "
                                               f"value by the dense element at its index)", "V", v, v)), op
                        ).with_bytes(a.nbytes + v * _itemsize(b.dtype), out_bytes or a.nbytes)


def _sparse_times_sparse(op, a: TensorMeta, b: TensorMeta) -> Cost | None:
    """Sparse × sparse of one shape (an intersection), as ``mul_out_sparse_cpu`` runs it: two coalesced
    COO operands (and CSR ones, which it runs as coalesced COO) are merged, one multiplication per
    index both store, the output's V_out values. An uncoalesced one goes to the hash intersection
    (SparseBinaryOpIntersectionCommon.h), which coalesces neither: each stored value of the searched-for
    operand times the sum of the other's values at its index, one multiplication per output value
    (V_out: its nnz is the searched-for operand's); when both are uncoalesced, the larger one's index
    hashes are sorted first (nnz·⌈log2 nnz⌉ comparisons) and the values it repeats at one index are
    summed (additions that depend on where the values lie: not counted). The merge's index comparisons
    are index arithmetic, not counted."""
    out = op.outputs[0] if op.outputs else None
    if not isinstance(out, TensorMeta) or out.sparse is None or tuple(a.shape) != tuple(b.shape) or not a.shape:
        return None
    v = out.sparse.values
    terms = [Term("mults", "multiplications (one per index both operands store: the output's values)", "V_out", v, v)]
    if a.sparse.coalesced is False and b.sparse.coalesced is False:
        searched = a if a.sparse.nnz >= b.sparse.nnz else b
        per_index = searched.sparse.values // searched.sparse.nnz if searched.sparse.nnz else 1
        if searched.sparse.nnz > 50 * (searched.numel // max(per_index, 1)):
            return None  # so many repeats that the kernel coalesces it instead (its nnz_out is not known here)
        nnz = searched.sparse.nnz
        log = math.ceil(math.log2(nnz)) if nnz > 1 else 0
        terms.append(Term("cmps", "comparisons (sorting the larger operand's index hashes)", "nnz·⌈log2 nnz⌉",
                          worked("{}×{}", nnz, log), nnz * log))
    return Cost.of(*terms)


@op_rule(*_packets("pow"), sparse=True, complex_aware=True)
def sparse_pow(op) -> Cost | None:
    """A sparse tensor to a positive scalar power (0^p = 0 keeps the zeros): the dense ``pow`` rule on
    the stored values; the kernel coalesces an uncoalesced input first (``coalesce``'s terms, then the
    coalesced values). A tensor exponent or one ≤ 0: uncounted (torch refuses the latter)."""
    a, e = op.args[0], schema_arg(op, "exponent")
    if not _sparse(a) or isinstance(e, TensorMeta) or not isinstance(e, (int, float)) or e <= 0:
        return None
    return _priced_on_values(op, coalescing=True)


@op_rule(aten.index_select, sparse=True)
def sparse_index_select(op) -> Cost | None:
    """``index_select`` of a sparse tensor: the stored indices matched against the selected ones (a
    search: index arithmetic, not counted, as for dense indexing) and their values gathered: no
    arithmetic, bytes only."""
    return Cost() if _sparse(op.args[0]) else None


@op_rule(aten.sparse_mask, sparse=True)
def sparse_mask(op) -> Cost | None:
    """``dense.sparse_mask(mask)`` (the gradient of a sparse operand of ``torch.sparse.mm``): the CPU
    kernel multiplies the dense tensor by a copy of the mask whose values are ones, so each of the
    mask's V stored indices is one multiplication (by one) of the dense element gathered there. Bytes:
    the mask's values and indices and the V dense elements read, the sparse output written (not the
    whole dense tensor). A sparse ``self``: an intersection of index lists, uncounted."""
    a, mask = op.args[0], op.args[1] if len(op.args) > 1 else op.kwargs.get("mask")
    if _sparse(a) or not _sparse(mask):
        return None
    v = mask.sparse.values
    out = op.outputs[0] if op.outputs else None
    # read: the mask's values and indices and the V dense elements at them; written: the sparse output
    return Cost.of(Term("mults", "multiplications (the dense element at each stored index of the mask, by one)",
                        "V", v, v)).with_bytes(mask.nbytes + v * _itemsize(a.dtype),
                                               out.nbytes if out is not None else 0)


why_uncounted("aten.sparse_mask", "a sparse tensor masked by another multiplies (by one) the values at the "
              "indices both store, a number the stored indices decide (at most the smaller nnz)")


@op_rule(*_packets("add", "sub"), sparse=True)
def sparse_sum_of_two(op) -> Cost | None:
    """dense ± sparse (out of place or into the dense one): V additions (and V multiplications by α
    ≠ 1). sparse ± sparse: nnz_a + nnz_b − nnz_out additions per value (one per index both store; the
    output's nnz says how many), and for α ≠ 1 the second's V multiplications."""
    a, b = op.args[0], op.args[1] if len(op.args) > 1 else op.kwargs.get("other")
    alpha = schema_arg(op, "alpha", 1)
    if not isinstance(b, TensorMeta):
        return None  # a sparse tensor plus a scalar is dense: torch refuses it
    out = op.outputs[0] if op.outputs else None
    if _sparse(a) and _sparse(b):
        if out is None or out.sparse is None:
            return None
        # values per stored index (a hybrid tensor's dense dims), read from an operand that stores some
        stored = a if a.sparse.nnz else b
        per_index = stored.sparse.values // stored.sparse.nnz if stored.sparse.nnz else 1
        merged = (a.sparse.nnz + b.sparse.nnz - out.sparse.nnz) * per_index
        # (in place, A.add_(B): A is described as it was before the op, the output as A became)
        return Cost.of(
            Term("adds", "additions (values both operands store at one index)", "(nnz_a + nnz_b − nnz_out)·per index",
                 worked("({} + {} − {})×{}", a.sparse.nnz, b.sparse.nnz, out.sparse.nnz, per_index), max(merged, 0)),
            Term("mults", "scaling α·B", "V_b", b.sparse.values, b.sparse.values) if alpha != 1 else None,
            bytes_read=a.nbytes + b.nbytes, bytes_written=out.nbytes)
    if _sparse(a):
        return None  # sparse ± dense: the dense result is the dense operand's elements, less or plus … (rare)
    v = b.sparse.values
    cost = Cost.of(Term("adds", "additions (a stored value into the dense element at its index)", "V", v, v),
                   Term("mults", "scaling α·B", "V", v, v) if alpha != 1 else None)
    if op.op.overloadpacket in (aten.add_, aten.sub_) or op.op._overloadname == "out":
        # into the dense tensor: only the V elements at the stored indices are read and written
        return cost.with_bytes(b.nbytes + v * _itemsize(a.dtype), v * _itemsize(a.dtype))
    return cost


# ---- coalescing, reductions, conversions -----------------------------------------------------
@op_rule(aten._coalesce, aten.coalesce, sparse=True)
def coalesce(op) -> Cost | None:
    """COO indices sorted (nnz·⌈log2 nnz⌉ comparisons, a comparison sort as ``sort``'s rule counts
    it) and the values of repeated indices summed (nnz_in − nnz_out additions per value)."""
    a, out = op.args[0], op.outputs[0] if op.outputs else None
    if not _sparse(a) or out is None or out.sparse is None:
        return None
    nnz = a.sparse.nnz
    return Cost.of(*_coalesce_terms(nnz, out.sparse.nnz, a.sparse.values // nnz if nnz else 1))


@op_rule(aten.sum.default, aten._sparse_sum.default, sparse=True)
def sparse_sum(op) -> Cost | None:
    """Every stored value summed: V − 1 additions."""
    a = op.args[0]
    if not _sparse(a):
        return None
    return Cost.of(reduced("adds", "additions (Σ of the stored values)", a.sparse.values, 1, "V − 1"))


@op_rule(aten._sparse_sum.dim, aten._sparse_sum.dim_dtype, aten.sum.dim_IntList, sparse=True)
def sparse_sum_over_dims(op) -> Cost | None:
    """A sum over some dimensions (``torch.sparse.sum(A, dim)``, ``A.sum(dim)``), as the COO kernel
    runs it: the summed dense dimensions within each stored value first (V − nnz·d additions, d the
    values per index left); then, where every sparse dimension is summed, the nnz rows into a dense
    result (nnz·d − d); else the kept indices coalesced (sorted, and the values of repeats summed:
    ``coalesce``'s terms with nnz_out from the output). Either way V − (values the output holds)
    additions in all. A compressed (CSR) input's rows are grouped already: the additions only."""
    a, out = op.args[0] if op.args else None, op.outputs[0] if op.outputs else None
    if not _sparse(a) or not isinstance(out, TensorMeta):
        return None
    v, nnz = a.sparse.values, a.sparse.nnz
    if out.sparse is None:  # every sparse dimension summed: a dense result
        return Cost.of(reduced("adds", "additions (every stored value into its output element)", v, out.numel,
                               "V − outputs"))
    nnz_out = out.sparse.nnz
    if nnz == 0 or nnz_out == 0:
        return Cost()
    per_index = out.sparse.values // nnz_out
    terms = []
    if v > nnz * per_index:  # dense dimensions summed within each stored value
        terms.append(reduced("adds", "additions (over the summed dense dimensions)", v, nnz * per_index,
                             "V − nnz·values per index"))
    if a.sparse.layout == "coo":
        terms += _coalesce_terms(nnz, nnz_out, per_index, ": the indices kept")
    else:
        terms.append(reduced("adds", "additions (values sharing an output index)", nnz * per_index,
                             nnz_out * per_index, "(nnz − nnz_out)·values per index"))
    return Cost.of(*terms)


@op_rule(*_packets("_to_sparse", "to_sparse", "_to_sparse_csr", "_to_sparse_csc", "_to_sparse_bsr",
                   "_to_sparse_bsc", "to_sparse_csr", "to_sparse_csc", "to_sparse_bsr", "to_sparse_bsc"), sparse=True)
def to_sparse(op) -> Cost | None:
    """A dense tensor made sparse: every element compared with zero (which ones to store); a sparse
    tensor given another sparse layout: its indices rearranged, no arithmetic."""
    a = op.args[0]
    if _sparse(a):
        return Cost()
    return Cost.of(Term("cmps", "comparisons with zero (which elements to store)", "elements",
                        worked("{}", a.shape), a.numel))
