"""What is made of recorded runs: reports (markdown, HTML, plots), the regression gate, paired comparisons,
and the tables `llmrec bench` prints after several models."""
