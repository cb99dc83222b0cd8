"""Human evaluation of generated text: blinded sheets out, annotations back in, statistics on them.

`export_sheet` (llmrec.humaneval.sheet) samples items from the samples several runs share, shuffles the
systems' outputs per item behind slot letters (A, B, ...), and writes three files: the sheet as CSV, the
same sheet as one self-contained HTML form (llmrec.humaneval.form), and a key that maps each item's slots
back to runs. Annotators score each output 1-5 on named criteria, or rank the outputs of an item (the
paper's protocol); either way they hand back a CSV of the sheet's shape.

`import_annotations` (llmrec.humaneval.results) reads those CSVs with the key and computes per-system mean
scores and mean ranks with 95% CIs, inter-annotator agreement (Krippendorff's alpha) and, where the runs
hold judge scores, agreement between the judge and the annotators (llmrec.humaneval.stats).
"""

from llmrec.humaneval.results import import_annotations
from llmrec.humaneval.sheet import MODES, SHEET_TASKS, export_sheet

__all__ = ["MODES", "SHEET_TASKS", "export_sheet", "import_annotations"]
