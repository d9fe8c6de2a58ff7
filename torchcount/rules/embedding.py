"""Rules for nn.Embedding (a table look-up: no arithmetic) and nn.EmbeddingBag (and the
aten op behind ``F.embedding_bag``, with the same terms)."""
from __future__ import annotations

from torch import nn

from ..cost import Cost, Term, worked
from ._util import schema_arg, stored
from .registry import aten, module_rule, op_rule


@module_rule(nn.Embedding)
def embedding(m: nn.Embedding, call) -> Cost:
    lookups = call.input.numel
    row_bytes = m.embedding_dim * stored(m, "weight").element_size()
    # only the rows looked up are read, not the whole table
    return Cost.of(
        Term("params", "parameters", "num_embeddings·dim",
             worked("{}×{}", m.num_embeddings, m.embedding_dim), m.num_embeddings * m.embedding_dim),
        *renorm_terms(lookups, m.num_embeddings, m.embedding_dim, m.max_norm, m.norm_type),
        bytes_read=lookups * (row_bytes + call.input.nbytes // max(lookups, 1)),
        bytes_written=call.out.nbytes,
    )


def renorm_terms(lookups: int, rows: int, dim: int, max_norm, norm_type: float) -> list:
    """``max_norm``: before the look-up, each distinct row looked up has its p-norm computed
    (p = 2: dim squares, dim − 1 additions, a square root; otherwise dim absolute values and
    powers, dim − 1 additions, a root) and compared with max_norm; a row over it is scaled by
    max_norm / (norm + 1e-7) (an addition, a division, dim multiplications). Which rows are
    distinct and which are over depend on the values: every look-up is taken as a distinct row
    (at most the table's rows) over the norm, an upper bound."""
    if max_norm is None:
        return []
    n = min(lookups, rows)
    label = "max_norm renormalisation"
    norm = ([Term("mults", f"squares ({label})", "rows·dim", worked("{}×{}", n, dim), n * dim)] if norm_type == 2 else
            [Term("cmps", f"absolute values ({label})", "rows·dim", worked("{}×{}", n, dim), n * dim),
             Term("transc", f"powers ({label})", "rows·dim", worked("{}×{}", n, dim), n * dim)])
    return norm + [
        Term("adds", f"additions ({label}: norms)", "rows·(dim − 1)", worked("{}×({} − 1)", n, dim), n * (dim - 1)),
        Term("transc", f"roots ({label})", "rows", n, n),
        Term("cmps", f"comparisons with max_norm ({label})", "rows", n, n),
        Term("adds", f"norm + 1e-7 ({label})", "rows", n, n),
        Term("divs", f"scales max_norm / norm ({label})", "rows", n, n),
        Term("mults", f"rows scaled ({label})", "rows·dim", worked("{}×{}", n, dim), n * dim),
    ]


@op_rule(aten.embedding_renorm_)
def embedding_renorm(op) -> Cost:
    """``embedding_renorm_(weight, indices, max_norm, norm_type)`` (``F.embedding`` with
    ``max_norm``): the terms of :func:`renorm_terms`; it reads the rows it looks at and the
    indices, and writes them back (an upper bound, as the terms)."""
    weight, indices = op.args[0], op.args[1]
    n = min(indices.numel, weight.shape[0])
    row_bytes = weight.nbytes // max(weight.shape[0], 1)
    return Cost.of(*renorm_terms(indices.numel, weight.shape[0], weight.shape[-1], op.args[2], float(op.args[3])),
                   bytes_read=n * row_bytes + indices.nbytes, bytes_written=n * row_bytes)


@module_rule(nn.EmbeddingBag)
def embedding_bag(m: nn.EmbeddingBag, call) -> Cost:
    """Each bag of b rows reduces them in b − 1 pairwise ops per dim ('sum'/'mean': additions,
    'max': comparisons); 'mean' then divides once per dim. Over all bags: (lookups − bags)·dim.

    Only shapes reach the rule, not the offsets, so an empty bag (an offset repeated) cannot be
    seen. The rule takes min(bags, lookups) bags as non-empty: exact when no bag is empty
    (then bags ≤ lookups), and never negative when there are more bags than look-ups. With
    empty bags the reductions are a lower bound and the mean's divisions an upper bound.
    Look-ups of ``padding_idx`` are skipped by torch; how many there are depends on the values,
    so they are counted as look-ups (an upper bound).
    """
    indices = call.input
    bags = indices.shape[0] if len(indices.shape) == 2 else call.out.shape[0]
    # forward(input, offsets=None, per_sample_weights=None): offsets may be None while the weights are given
    weights = call.args[2] if len(call.args) > 2 else call.kwargs.get("per_sample_weights")
    row_bytes = m.embedding_dim * stored(m, "weight").element_size()
    # as nn.Embedding: the rows looked up are read (with the indices, offsets and weights), not the table
    return Cost.of(*renorm_terms(indices.numel, m.num_embeddings, m.embedding_dim, m.max_norm, m.norm_type),
                   *bag_terms(indices.numel, bags, m.embedding_dim, m.mode, weights is not None),
                   bytes_read=indices.numel * row_bytes + sum(t.nbytes for t in call.inputs),
                   bytes_written=call.out.nbytes)


_BAG_MODES = {0: "sum", 1: "mean", 2: "max"}  # aten's mode codes


@op_rule(aten._embedding_bag, aten._embedding_bag_forward_only)
def embedding_bag_op(op) -> Cost:
    """``F.embedding_bag``: the terms of the nn.EmbeddingBag rule (bags: the rows of the output)."""
    weight, indices, out = op.inputs[0], op.args[1], op.outputs[0]
    return Cost.of(*bag_terms(indices.numel, out.shape[0], weight.shape[-1],
                              _BAG_MODES.get(int(schema_arg(op, "mode", 0)), "sum"),
                              schema_arg(op, "per_sample_weights") is not None),
                   # the rows looked up, the indices, offsets and weights; the bags written
                   bytes_read=indices.numel * weight.nbytes // max(weight.shape[0], 1) +
                   sum(t.nbytes for t in op.inputs[1:]),
                   bytes_written=out.nbytes)


def bag_terms(lookups: int, bags: int, dim: int, mode: str, has_weights: bool) -> list:
    """Bags of looked-up rows reduced per dim (see :func:`embedding_bag`)."""
    filled = min(bags, lookups)  # non-empty bags: at most one per look-up
    terms = []
    if has_weights:
        terms.append(Term("mults", "per-sample weights", "lookups·dim", worked("{}×{}", lookups, dim), lookups * dim))
    reduce = "(lookups − min(bags, lookups))·dim (assumes min(bags, lookups) non-empty bags)"
    if mode == "max":
        terms.append(Term("cmps", "comparisons", reduce, worked("({} − {})×{}", lookups, filled, dim),
                          (lookups - filled) * dim))
    else:
        terms.append(Term("adds", "additions", reduce, worked("({} − {})×{}", lookups, filled, dim),
                          (lookups - filled) * dim))
        if mode == "mean":
            terms.append(Term("divs", "divisions (mean)", "min(bags, lookups)·dim (assumes as many non-empty bags)",
                              worked("{}×{}", filled, dim), filled * dim))
    return terms
