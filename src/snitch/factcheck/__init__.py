"""Fact-check: a claim checked against what was really said, with the messages as proof."""

from snitch.factcheck.retrieval import Evidence, HybridRetriever
from snitch.factcheck.service import FactCheck, FactCheckError, build_judge, fact_check
from snitch.factcheck.verdict import Judgement, LLMJudge, OfflineJudge, Verdict

__all__ = [
    "Evidence",
    "FactCheck",
    "FactCheckError",
    "HybridRetriever",
    "Judgement",
    "LLMJudge",
    "OfflineJudge",
    "Verdict",
    "build_judge",
    "fact_check",
]
