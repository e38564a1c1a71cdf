"""The case domain: pure rules over a survivor case (no I/O, no clock, no framework).

``decide(state, command, now) -> events`` applies the rules; ``evolve``/``fold`` rebuild the
state from events. See ``docs/case-domain.md`` for the rules in prose.
"""

from services.case.domain.decide import decide
from services.case.domain.evolve import evolve, fold
from services.case.domain.state import Case, Consent, RequestedReferral

__all__ = ["Case", "Consent", "RequestedReferral", "decide", "evolve", "fold"]
