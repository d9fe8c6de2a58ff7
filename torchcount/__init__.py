"""torchcount: what every layer of a PyTorch model costs, in theory and in fact."""
from .conventions import CONVENTIONS, Convention, get_convention
from .cost import Cost, Term, worked
from .count import RuleError
from .export import load_report
from .profile import ForwardError, UncountedWarning, make_inputs, profile
from .report import Report, Row, Total, Uncounted
from .rules import module_rule, op_rule, rule_for, zero_ops
from .state import ParameterModifiedError
from .analysis import compare, receptive_field, scaling

__version__ = "0.1.0"

__all__ = [
    "profile", "Report", "Row", "Total", "Uncounted", "Cost", "Term", "worked", "Convention", "CONVENTIONS",
    "get_convention", "module_rule", "op_rule", "zero_ops", "rule_for", "ForwardError", "RuleError",
    "UncountedWarning", "ParameterModifiedError", "make_inputs", "load_report", "scaling", "compare", "receptive_field",
]
