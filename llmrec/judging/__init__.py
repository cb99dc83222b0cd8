"""LLM-as-judge evaluation of generated text (`llmrec judge`): a judge model scores recorded outputs.

templates.py (prompts/judge/*.yaml) says what the judge is asked, verdicts.py reads its replies,
inputs.py rebuilds what the judged model saw and pairs runs, stage.py asks, records and resumes,
stats.py scores, attach.py and report.py put the scores into `llmrec report` and `llmrec check`.
"""

from llmrec.judging.stage import JudgeConfig, judge  # noqa: F401

__all__ = ["JudgeConfig", "judge"]
