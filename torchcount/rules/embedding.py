"""Rules for nn.Embedding (a table look-up: no arithmetic) and nn.EmbeddingBag."""
from __future__ import annotations

from torch import nn

from ..cost import Cost, Term, worked
from ._util import stored
from .registry import module_rule


@module_rule(nn.Embedding)
def embedding(m: nn.Embedding, call) -> Cost:
    lookups = call.input.numel
    row_bytes = m.embedding_dim * stored(m, "weight").element_size()
    # only the rows looked up are read, not the whole table
    return Cost.of(
        Term("params", "parameters", "num_embeddings·dim",
             worked("{}×{}", m.num_embeddings, m.embedding_dim), m.num_embeddings * m.embedding_dim),
        bytes_read=lookups * (row_bytes + call.input.nbytes // max(lookups, 1)),
        bytes_written=call.out.nbytes,
    )


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
    lookups = indices.numel
    bags = indices.shape[0] if len(indices.shape) == 2 else call.out.shape[0]
    filled = min(bags, lookups)  # non-empty bags: at most one per look-up
    dim = m.embedding_dim
    # forward(input, offsets=None, per_sample_weights=None): offsets may be None while the weights are given
    weights = call.args[2] if len(call.args) > 2 else call.kwargs.get("per_sample_weights")
    has_weights = weights is not None
    terms = []
    if has_weights:
        terms.append(Term("mults", "per-sample weights", "lookups·dim", worked("{}×{}", lookups, dim), lookups * dim))
    reduce = "(lookups − min(bags, lookups))·dim (assumes min(bags, lookups) non-empty bags)"
    if m.mode == "max":
        terms.append(Term("cmps", "comparisons", reduce, worked("({} − {})×{}", lookups, filled, dim),
                          (lookups - filled) * dim))
    else:
        terms.append(Term("adds", "additions", reduce, worked("({} − {})×{}", lookups, filled, dim),
                          (lookups - filled) * dim))
        if m.mode == "mean":
            terms.append(Term("divs", "divisions (mean)", "min(bags, lookups)·dim (assumes as many non-empty bags)",
                              worked("{}×{}", filled, dim), filled * dim))
    return Cost.of(*terms)
