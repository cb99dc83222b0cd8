"""Turn raw LLM answers into `Prediction`s, counting everything that could not be used.

Parsers are deliberately literal: they read what the answer says and never guess a better
answer for the model. Failures are counted (parse_failed, hallucinated, out_of_candidates,
duplicates) so metrics can report them instead of dropping samples.

- rating.py: `parse_rating`, `parse_rating_prediction`;
- lists.py: the list structure of a ranking answer (`split_ranked_list`);
- titles.py: catalog titles (`normalise_title`, `ItemMatcher`);
- answers.py: ranking answers (`read_ranking`, `parse_ranking`);
- text.py: free text (`parse_text`).

A ranking answer is read two ways (`read_ranking`): refined, LLMRec's "output refinement", maps
the titles it names to the catalog even when they sit in prose; strict counts only an answer that
is a well-formed list (`Prediction.well_formed`).
"""

from llmrec.parsing.answers import parse_ranking, read_ranking
from llmrec.parsing.lists import split_ranked_list
from llmrec.parsing.rating import parse_rating, parse_rating_prediction
from llmrec.parsing.text import parse_text
from llmrec.parsing.titles import ItemMatcher, normalise_title

__all__ = ["ItemMatcher", "normalise_title", "parse_rating", "parse_rating_prediction", "parse_ranking",
           "parse_text", "read_ranking", "split_ranked_list"]
