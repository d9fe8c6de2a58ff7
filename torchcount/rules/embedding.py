"""Rules for nn.Embedding (a table look-up: no arithmetic) and nn.EmbeddingBag."""
from __future__ import annotations

from torch import nn

from ..cost import Cost, Term, worked
from .registry import module_rule


@module_rule(nn.Embedding)
def embedding(m: nn.Embedding, call) -> Cost:
    lookups = call.input.numel
    row_bytes = m.embedding_dim * m.weight.element_size()
    # only the rows looked up are read, not the whole table
    return Cost.of(
        Term("params", "parameters", "num_embeddings·dim",
             worked("{}×{}", m.num_embeddings, m.embedding_dim), m.num_embeddings * m.embedding_dim),
        bytes_read=lookups * (row_bytes + call.input.nbytes // max(lookups, 1)),
        bytes_written=call.out.nbytes,
    )


@module_rule(nn.EmbeddingBag)
def embedding_bag(m: nn.EmbeddingBag, call) -> Cost:
    indices = call.input
    lookups = indices.numel
    bags = indices.shape[0] if len(indices.shape) == 2 else call.out.shape[0]
    dim = m.embedding_dim
    # forward(input, offsets=None, per_sample_weights=None): offsets may be None while the weights are given
    weights = call.args[2] if len(call.args) > 2 else call.kwargs.get("per_sample_weights")
    has_weights = weights is not None
    terms = []
    if has_weights:
        terms.append(Term("mults", "per-sample weights", "lookups·dim", worked("{}×{}", lookups, dim), lookups * dim))
    if m.mode == "max":
        terms.append(Term("cmps", "comparisons", "(lookups − bags)·dim", worked("({} − {})×{}", lookups, bags, dim),
                          (lookups - bags) * dim))
    else:
        terms.append(Term("adds", "additions", "(lookups − bags)·dim", worked("({} − {})×{}", lookups, bags, dim),
                          (lookups - bags) * dim))
        if m.mode == "mean":
            terms.append(Term("divs", "divisions (mean)", "bags·dim", worked("{}×{}", bags, dim), bags * dim))
    return Cost.of(*terms)
