"""Preparing Amazon reviews at scale: a seeded generator of 2018-format dumps, and cold-preparation timings.

    python benchmarks/amazon_scale.py [--sizes 1M,3M,10M] [--work FOLDER] [--seed N]
    python benchmarks/amazon_scale.py --quick          # 100k reviews only: a smoke check

For each size it writes (or reuses, by its parameters) a folder holding `Clothing.json.gz` (one review per
line, the 2018 keys) and `meta_Clothing.json.gz` under --work, then runs `python -m llmrec data prepare
amazon:FOLDER` in a fresh process with its own empty LLMREC_DATA_DIR, and prints one table: reviews, file
size, what the 5-core kept (from the prepared manifest), wall seconds, seconds per million reviews and the
child's peak RSS. Exit 1 when the 10M row misses its targets (<= 180 s, <= 4 GiB) or a preparation fails.

The generator is `write_amazon_2018(folder, n_reviews, seed)`: heavy-tailed user activity (Zipf, most users
have one or two reviews) and item popularity (Zipf over ranks), ratings skewed to 5, day-resolution review
times (as in the real dumps, so same-second ties are common) spread over 2002-2018 and growing, heavy-tailed
review texts with HTML entities, escaped quotes and non-ASCII words. Lines are assembled as bytes with
numpy, a chunk at a time, so 10M reviews need no per-line Python.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
GENERATOR_VERSION = 1  # part of a generated folder's name: a changed generator never reuses an old file
REVIEW_FILE, META_FILE = "Clothing.json.gz", "meta_Clothing.json.gz"
CHUNK = 100_000  # reviews assembled and compressed at a time
TARGETS = {10_000_000: (180.0, 4.0)}  # reviews -> (max seconds, max peak RSS GiB)
GIB = 2**30

# -- the distributions (Amazon 2018 Clothing, Shoes & Jewelry: 32.3M reviews, 11.3M in its 5-core, 2.7M products)
USER_ZIPF = 2.3  # reviews per user ~ Zipf(2.3): 70 % of users have one review, 84 % one or two, mean 2.6
MAX_PER_USER = 3_000
REVIEWS_PER_ITEM = 12  # items = reviews / 12
ITEM_ZIPF = 0.85  # item popularity ~ rank ** -0.85
RATING_SHARES = (0.06, 0.05, 0.09, 0.16, 0.64)  # 1..5 stars
SAME_DAY_AS_PREVIOUS = 0.25  # a user's review posted the same day as their previous one (ties)
FIRST_DAY = datetime.date(2002, 1, 1)
LAST_DAY = datetime.date(2018, 9, 30)
GROWTH_DAYS = 1_500  # review volume grows by e every ~4 years
TEXT_CHARS = (4.75, 1.05)  # log-normal (mu, sigma) of reviewText length: median 116, mean about 200
MAX_TEXT_CHARS = 12_000
SUMMARY_WORDS = (1, 9)
VERIFIED, HAS_STYLE, HAS_VOTE, HAS_IMAGE = 0.90, 0.55, 0.12, 0.02
CATALOG_EXTRA, META_MISSING = 0.05, 0.02  # metadata lines for never-reviewed items; reviewed items without any

COMMON_WORDS = (
    "the and i it a to is for this of my in but they fit are was so not with very on size these love great "
    "that just like wear too be have would as one small comfortable nice them look well quality at can "
    "little good order if all or material perfect color bought ordered really were me long cute up out "
    "will shirt dress shoes an product more large pair big medium fits received run price recommend "
    "again soft because also looks had fabric back other from do tight which waist when feet daughter "
    "husband wearing than returned enough bit could only no what after first get made cheap even much "
    "right day usually super happy expected worn "
).split()
# Escaped as the dumps escape them: HTML entities, JSON-escaped quotes and line breaks, non-ASCII words.
SPECIAL_WORDS = ("&amp;", "&quot;perfect&quot;", "&#39;", "\\\"great\\\"", "5\\\"", "\\n", "\\n\\n", "caf\u00e9",
                 "na\u00efve", "Gr\u00f6\u00dfe", "tr\u00e8s", "\u2014", "\u2019s", "\u00bd", "\u2764\ufe0f",
                 "\\u00e9t\\u00e9", "\u5f88\u597d", "\u00a1genial!")
FIRST_NAMES = ("Amazon Customer", "Kindle Customer", "Jennifer", "Mary", "Linda", "Sarah", "Jessica", "Karen",
               "Lisa", "Michael", "David", "John", "Robert", "Chris", "Amy", "Ashley", "Jos\u00e9", "Zo\u00eb",
               "Fran\u00e7ois", "Bj\u00f6rn", "\u674e\u660e", "Ren\u00e9e", "Mom of 3", "Shopper")
SIZES = ("Small", "Medium", "Large", "X-Large", "8", "8.5", "9", "10 B(M) US")
COLORS = ("Black", "White", "Navy", "Charcoal Heather", "Red", "Floral &amp; Lace", "Beige")
CATEGORY_PATHS = (
    ["Clothing, Shoes & Jewelry", "Women", "Clothing", "Dresses"],
    ["Clothing, Shoes & Jewelry", "Women", "Shoes", "Sandals"],
    ["Clothing, Shoes & Jewelry", "Men", "Clothing", "Shirts"],
    ["Clothing, Shoes & Jewelry", "Men", "Shoes", "Boots"],
    ["Clothing, Shoes & Jewelry", "Girls", "Clothing"],
    ["Clothing, Shoes & Jewelry", "Novelty & More", "Clothing", "Novelty", "Women", "Tops & Tees"],
    ["Clothing, Shoes & Jewelry", "Luggage & Travel Gear"],
    [],
)
BRANDS = ("Hanes", "Levi's", "Carhartt", "Crocs", "Gildan", "Fruit of the Loom", "Calvin Klein", "Skechers",
          "Gr\u00fcn &amp; Co", "")


# -- lines as bytes: every byte a line can hold sits in one pool; a column is (start in the pool, length) per row
class Pool:
    """Tables of JSON fragments in one buffer, so a chunk of lines is one gather from it."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.size = 0
        self.buffer = np.empty(0, dtype=np.uint8)

    def add(self, data: bytes) -> int:
        """Append bytes; returns where they start."""
        self.parts.append(data)
        self.size += len(data)
        return self.size - len(data)

    def table(self, values: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(starts, lengths) of UTF-8 strings, indexed by value."""
        encoded = [v.encode() for v in values]
        lengths = np.array([len(e) for e in encoded], dtype=np.int64)
        starts = self.add(b"".join(encoded)) + np.cumsum(lengths) - lengths
        return starts, lengths

    def fixed(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A (values, width) byte table, indexed by value."""
        n, width = rows.shape
        return self.add(rows.tobytes()) + np.arange(n, dtype=np.int64) * width, np.full(n, width, dtype=np.int64)

    def freeze(self) -> None:
        self.buffer = np.frombuffer(b"".join(self.parts), dtype=np.uint8)
        self.parts = []


def _pick(table: tuple[np.ndarray, np.ndarray], index: np.ndarray):
    """The column whose row r holds table value index[r] (index may be a scalar: the same for every row)."""
    starts, lengths = table
    return starts[index], lengths[index]


def _optional(column, present: np.ndarray):
    starts, lengths = column
    return starts, np.where(present, lengths, 0)


def _gather(pool: Pool, columns: list, rows: int) -> bytes:
    """Each row's pieces (columns in order), rows one after another. The pool index of every output byte is
    a running sum: +1 within a piece, a jump to the next piece's start between pieces."""
    starts = np.stack([np.broadcast_to(c[0], rows) for c in columns], axis=1).ravel()
    lengths = np.stack([np.broadcast_to(c[1], rows) for c in columns], axis=1).ravel()
    used = lengths > 0
    starts, lengths = starts[used], lengths[used]
    steps = np.ones(int(lengths.sum()), dtype=np.int32 if pool.buffer.size < 2**31 else np.int64)
    steps[0] = starts[0]
    steps[(np.cumsum(lengths) - lengths)[1:]] = starts[1:] - (starts[:-1] + lengths[:-1] - 1)
    return pool.buffer[np.cumsum(steps, dtype=steps.dtype)].tobytes()


# -- ids, text, times
def _unique_codes(rng: np.random.Generator, n: int, width: int, alphabet: str) -> np.ndarray:
    """n distinct random codes of `width` characters, as an (n, width) byte table."""
    letters = np.frombuffer(alphabet.encode(), dtype=np.uint8)
    codes = np.empty((0, width), dtype=np.uint8)
    while len(codes) < n:
        drawn = np.concatenate([codes, letters[rng.integers(0, len(letters), size=(n - len(codes) + 16, width))]])
        _, first = np.unique(drawn.view(f"S{width}").ravel(), return_index=True)
        codes = drawn[np.sort(first)]
    return codes[:n]


ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _quoted(prefix: str, codes: np.ndarray) -> np.ndarray:
    """`"prefix<code>"` per code, quoted for JSON, as a (codes, width) byte table."""
    n, width = codes.shape
    quoted = np.empty((n, width + len(prefix) + 2), dtype=np.uint8)
    quoted[:, 0] = quoted[:, -1] = ord('"')
    quoted[:, 1:1 + len(prefix)] = np.frombuffer(prefix.encode(), dtype=np.uint8)
    quoted[:, 1 + len(prefix):-1] = codes
    return quoted


class Corpus:
    """One long run of review-like words; a text is a slice of it between word boundaries. The words are
    already JSON-escaped, so any such slice is a valid JSON string body."""

    def __init__(self, rng: np.random.Generator, pool: Pool, n_words: int = 1_500_000):
        vocabulary = COMMON_WORDS + [self._pseudo_word(rng) for _ in range(6_000)] + list(SPECIAL_WORDS)
        weights = 1.0 / np.arange(1, len(vocabulary) + 1) ** 1.05
        special = np.arange(len(vocabulary) - len(SPECIAL_WORDS), len(vocabulary))
        weights[special] = weights[len(COMMON_WORDS)] * 0.5  # rare, but a few in most long texts
        words = rng.choice(len(vocabulary), size=n_words, p=weights / weights.sum())
        sentence_end = rng.random(n_words) < 0.08
        encoded = [(vocabulary[w] + ("." if end else "") + " ").encode()
                   for w, end in zip(words.tolist(), sentence_end.tolist())]
        lengths = np.array([len(e) for e in encoded], dtype=np.int64)
        self.word_start = pool.add(b"".join(encoded)) + np.cumsum(lengths) - lengths
        self.usable_words = n_words - MAX_TEXT_CHARS  # a text starting there never runs off the end

    @staticmethod
    def _pseudo_word(rng: np.random.Generator) -> str:
        syllables = ("ka", "lo", "mi", "ne", "ra", "to", "su", "ve", "an", "el", "or", "ing", "st", "ch", "ly")
        return "".join(rng.choice(syllables, size=int(rng.integers(1, 4))))

    def texts(self, rng: np.random.Generator, chars: np.ndarray):
        """Texts of about `chars` bytes each (at least one word), ending at a word boundary."""
        first = rng.integers(0, self.usable_words, size=len(chars))
        start = self.word_start[first]
        after = np.maximum(np.searchsorted(self.word_start, start + chars), first + 1)
        return start, self.word_start[after] - start - 1  # without the trailing space

    def phrases(self, rng: np.random.Generator, n: int, low: int, high: int):
        """Texts of `low` to `high` words (summaries)."""
        first = rng.integers(0, self.usable_words, size=n)
        start = self.word_start[first]
        return start, self.word_start[first + rng.integers(low, high + 1, size=n)] - start - 1


def _review_days(rng: np.random.Generator, users: np.ndarray) -> np.ndarray:
    """Days since FIRST_DAY, growing in volume over the years; some reviews share their user's previous day."""
    span = (LAST_DAY - FIRST_DAY).days
    # Inverse CDF of a density growing as exp(day / GROWTH_DAYS) on [0, span].
    u = rng.random(len(users))
    days = GROWTH_DAYS * np.log1p(u * np.expm1(span / GROWTH_DAYS))
    days = np.minimum(days.astype(np.int64), span)
    same = rng.random(len(users)) < SAME_DAY_AS_PREVIOUS
    same[1:] &= users[1:] == users[:-1]
    same[0] = False
    source = np.where(same, 0, np.arange(len(users)))
    return days[np.maximum.accumulate(source)]  # runs of `same` take their first review's day


def _day_texts() -> tuple[list[str], list[str]]:
    """unixReviewTime and reviewTime ("10 17, 2015": month zero-padded, day not) per day since FIRST_DAY."""
    dates = [FIRST_DAY + datetime.timedelta(days=d) for d in range((LAST_DAY - FIRST_DAY).days + 1)]
    epoch = datetime.date(1970, 1, 1)
    unix = [f', "unixReviewTime": {(d - epoch).days * 86_400}' for d in dates]
    text = [f', "reviewTime": "{d.month:02d} {d.day}, {d.year}"' for d in dates]
    return unix, text


def _names(rng: np.random.Generator, n: int = 5_000) -> list[str]:
    names = []
    for k in range(n):
        first = FIRST_NAMES[int(rng.integers(len(FIRST_NAMES)))]
        form = k % 4
        name = first if form == 0 or first.endswith("Customer") else (
            f"{first} {chr(65 + k % 26)}." if form == 1 else f"{first}{k % 997}" if form == 2 else f"{first} & family")
        names.append(f', "reviewerName": {json.dumps(name, ensure_ascii=k % 2 == 0)}')  # the dumps hold both forms
    return names


def _styles() -> list[str]:
    styles = [{"Size:": f" {s}", "Color:": f" {c}"} for s in SIZES for c in COLORS]
    styles += [{"Size:": f" {s}"} for s in SIZES] + [{"Color:": f" {c}"} for c in COLORS]
    return [f', "style": {json.dumps(s)}' for s in styles]


def _images(rng: np.random.Generator) -> list[str]:
    letters = list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
    urls = [f"https://images-na.ssl-images-amazon.com/images/I/{''.join(rng.choice(letters, 11))}._SY88.jpg"
            for _ in range(200)]
    return [f', "image": {json.dumps(urls[k:k + 1 + k % 3])}' for k in range(len(urls))]


MAX_VOTE = 20_000


def _tables(rng: np.random.Generator, pool: Pool, n_users: int, asin_codes: np.ndarray) -> dict:
    """Every fragment a review line is made of, in the pool."""
    unix, day_text = _day_texts()
    return {
        "open": pool.table(['{"overall": ']),
        "stars": pool.table([f"{s}.0" for s in range(1, 6)]),
        "vote": pool.table([f', "vote": "{v:,}"' for v in range(MAX_VOTE + 1)]),  # "1,234" as in the dumps
        "verified": pool.table([', "verified": false', ', "verified": true']),
        "day_text": pool.table(day_text),
        "user_key": pool.table([', "reviewerID": ']),
        "user_id": pool.fixed(_quoted("A", _unique_codes(rng, n_users, 13, ID_ALPHABET))),
        "asin_key": pool.table([', "asin": ']),
        "asin": pool.fixed(_quoted("B0", asin_codes)),
        "style": pool.table(_styles()),
        "name": pool.table(_names(rng)),
        "text_key": pool.table([', "reviewText": "']),
        "summary_key": pool.table(['", "summary": "']),
        "text_end": pool.table(['"']),
        "day_unix": pool.table(unix),
        "image": pool.table(_images(rng)),
        "close": pool.table(["}\n"]),
    }


# -- the population: who reviews what, when, how
def _population(rng: np.random.Generator, n_reviews: int) -> tuple[dict[str, np.ndarray], int, int]:
    """(per review: user, item, day, stars; the number of users; of items)."""
    counts = np.empty(0, dtype=np.int64)
    while counts.sum() < n_reviews:
        counts = np.concatenate([counts, np.minimum(rng.zipf(USER_ZIPF, size=max(1000, n_reviews // 2)), MAX_PER_USER)])
    cut = int(np.searchsorted(np.cumsum(counts), n_reviews))
    counts = counts[:cut + 1]
    counts[-1] -= int(counts.sum()) - n_reviews
    users = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    n_items = max(10, n_reviews // REVIEWS_PER_ITEM)
    popularity = 1.0 / np.arange(1, n_items + 1) ** ITEM_ZIPF
    rank_of_item = rng.permutation(n_items)  # item k has popularity rank rank_of_item[k]
    items = rng.choice(n_items, size=n_reviews, p=(popularity / popularity.sum())[rank_of_item])
    reviews = {
        "user": users,
        "item": items.astype(np.int64),
        "day": _review_days(rng, users),
        "stars": rng.choice(5, size=n_reviews, p=RATING_SHARES),
    }
    return reviews, len(counts), n_items


def _review_lines(rng: np.random.Generator, pool: Pool, corpus: Corpus, rows: dict[str, np.ndarray],
                  tables: dict) -> bytes:
    """One chunk of review lines, keys in the dumps' order; style, vote and image only sometimes."""
    n = len(rows["user"])
    flags = rng.random((4, n))
    text_chars = np.minimum(rng.lognormal(*TEXT_CHARS, size=n), MAX_TEXT_CHARS).astype(np.int64)
    votes = np.minimum(rng.zipf(1.8, size=n) + 1, MAX_VOTE)  # the dumps give votes of 2 and more

    def some(name: str) -> np.ndarray:
        return rng.integers(0, len(tables[name][0]), size=n)

    columns = [
        tables["open"], _pick(tables["stars"], rows["stars"]),
        _optional(_pick(tables["vote"], votes), flags[0] < HAS_VOTE),
        _pick(tables["verified"], (flags[1] < VERIFIED).astype(np.int64)),
        _pick(tables["day_text"], rows["day"]),
        tables["user_key"], _pick(tables["user_id"], rows["user"]),
        tables["asin_key"], _pick(tables["asin"], rows["item"]),
        _optional(_pick(tables["style"], some("style")), flags[2] < HAS_STYLE),
        _pick(tables["name"], some("name")),
        tables["text_key"], corpus.texts(rng, text_chars),
        tables["summary_key"], corpus.phrases(rng, n, *SUMMARY_WORDS), tables["text_end"],
        _pick(tables["day_unix"], rows["day"]),
        _optional(_pick(tables["image"], some("image")), flags[3] < HAS_IMAGE),
        tables["close"],
    ]
    return _gather(pool, columns, n)


# As the 2018 Clothing metadata gives it: an HTML image tag.
MAIN_CATEGORY = ('<img src="https://m.media-amazon.com/images/G/01/nav2/images/gui/amazon-fashion-store-new._CB520838675_'
                 '.png" class="nav-categ-image" alt="AMAZON FASHION"/>')


def _meta_lines(rng: np.random.Generator, asins: list[str], reviewed: int) -> bytes:
    """2018 metadata: one JSON object per item (asin last, as in the dumps), in a seeded order."""
    lines = []
    for k in rng.permutation(len(asins)).tolist():
        if k < reviewed and rng.random() < META_MISSING:
            continue
        brand = BRANDS[k % len(BRANDS)]
        record = {
            "category": CATEGORY_PATHS[k % len(CATEGORY_PATHS)],
            "tech1": "",
            "description": [f"Soft &amp; breathable, item {k}."] if k % 3 else [],
            "fit": "",
            "title": "" if k % 97 == 0 else (f"{brand or 'Generic'} Women&#39;s Style {k} &quot;Classic&quot; "
                                              f"\u2013 {COLORS[k % len(COLORS)]}"),
            "also_buy": [asins[(k * 7 + j) % len(asins)] for j in range(k % 4)],
            "tech2": "",
            "brand": brand,
            "feature": ["100% Cotton", "Imported", "Machine Wash"][: k % 4],
            "rank": f"{(k * 37) % 900_000 + 1:,} in Clothing, Shoes &amp; Jewelry (",
            "also_view": [],
            "main_cat": MAIN_CATEGORY,
            "similar_item": "",
            "date": "",
            "price": f"${5 + k % 60}.99" if k % 2 else "",
            "imageURL": [],
            "imageURLHighRes": [],
            "asin": asins[k],
        }
        lines.append(json.dumps(record))
    return ("\n".join(lines) + "\n").encode()


class _GzipWriter:
    """A gzip file compressed in a worker thread (zlib releases the GIL) while the next chunk is built."""

    def __init__(self, path: Path):
        self.file = open(path, "wb")
        self.compressor = zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: gzip header and trailer
        self.pool = concurrent.futures.ThreadPoolExecutor(1)
        self.pending: concurrent.futures.Future | None = None

    def write(self, data: bytes) -> None:
        self._flush_pending()
        self.pending = self.pool.submit(self.compressor.compress, data)

    def _flush_pending(self) -> None:
        if self.pending is not None:
            self.file.write(self.pending.result())
            self.pending = None

    def close(self) -> None:
        self._flush_pending()
        self.file.write(self.compressor.flush())
        self.file.close()
        self.pool.shutdown()


def generate(folder: Path, n_reviews: int, seed: int) -> None:
    """Write REVIEW_FILE and META_FILE into `folder` (which must exist)."""
    rng = np.random.default_rng(seed)
    pool = Pool()
    corpus = Corpus(rng, pool)
    people, n_users, n_items = _population(rng, n_reviews)
    asin_codes = _unique_codes(rng, n_items + int(n_items * CATALOG_EXTRA), 8, ID_ALPHABET)
    tables = _tables(rng, pool, n_users, asin_codes)
    pool.freeze()
    # The dumps are grouped by product; within one, by time.
    order = np.lexsort((people["day"], people["item"]))
    writer = _GzipWriter(folder / REVIEW_FILE)
    try:
        for begin in range(0, n_reviews, CHUNK):
            picked = order[begin:begin + CHUNK]
            rows = {k: column[picked] for k, column in people.items()}
            writer.write(_review_lines(rng, pool, corpus, rows, tables))
    finally:
        writer.close()
    asins = ["B0" + code.tobytes().decode() for code in asin_codes]
    (folder / META_FILE).write_bytes(_gzip_bytes(_meta_lines(rng, asins, n_items)))


def _gzip_bytes(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


def generated_folder(work: str | Path, n_reviews: int, seed: int) -> Path:
    return Path(work) / f"amazon2018-v{GENERATOR_VERSION}-{n_reviews}-seed{seed}"


def write_amazon_2018(folder: str | Path, n_reviews: int, seed: int = 0) -> Path:
    """A folder under `folder` holding REVIEW_FILE and META_FILE for `n_reviews` reviews drawn with `seed`,
    reused when already generated with the same parameters. Returns that folder (`amazon:` takes it)."""
    if n_reviews < 1:
        raise ValueError(f"n_reviews: expected at least 1, got {n_reviews}")
    target = generated_folder(folder, n_reviews, seed)
    if (target / REVIEW_FILE).is_file() and (target / META_FILE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        generate(tmp, n_reviews, seed)
        tmp.chmod(0o755)  # mkdtemp makes it private; the generated files are for anyone to prepare
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


# -- the benchmark: a cold `llmrec data prepare` per size, in a fresh process
# Runs the CLI as `python -m llmrec` does and leaves its peak RSS in a file. VmHWM, not the parent's
# os.wait4 ru_maxrss: Linux carries the spawning process's peak across exec into the child's ru_maxrss.
CHILD = """
import runpy, sys
from pathlib import Path
rss_file, sys.argv = sys.argv[1], ["llmrec", "data", "prepare", sys.argv[2]]
try:
    runpy.run_module("llmrec", run_name="__main__", alter_sys=True)
finally:
    hwm = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
    Path(rss_file).write_text(str(int(hwm.split()[1]) * 1024))
"""
SIZE = re.compile(r"(\d+(?:\.\d+)?)([kKmM]?)")


def parse_size(text: str) -> int:
    """'100k' -> 100000, '1M' -> 1000000, '2.5M' -> 2500000, '5000' -> 5000."""
    match = SIZE.fullmatch(text.strip())
    if not match or float(match[1]) * {"": 1, "k": 1e3, "m": 1e6}[match[2].lower()] < 1:
        raise argparse.ArgumentTypeError(f"expected sizes like 100k,1M,10M, got {text!r}")
    return int(round(float(match[1]) * {"": 1, "k": 1e3, "m": 1e6}[match[2].lower()]))


def parse_sizes(text: str) -> list[int]:
    return [parse_size(part) for part in text.split(",") if part.strip()] or parse_size("")


def size_label(n: int) -> str:
    for unit, scale in (("M", 10**6), ("k", 10**3)):
        if n >= scale and n % (scale // 10) == 0:
            return f"{n / scale:g}{unit}"
    return str(n)


def prepare_cold(folder: Path, work: Path) -> dict:
    """Wall seconds, peak RSS and the manifest's stats of one `llmrec data prepare amazon:FOLDER` with an empty
    data folder of its own."""
    data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=work))
    rss_file = data_dir / "peak-rss"
    env = {**os.environ, "LLMREC_DATA_DIR": str(data_dir),
           "PYTHONPATH": os.pathsep.join([str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
    try:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", CHILD, str(rss_file), f"amazon:{folder}"], env=env, cwd=REPO,
                              capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            return {"error": (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]}
        (manifest,) = (data_dir / "prepared").glob("*/manifest.json")
        stats = json.loads(manifest.read_text())["stats"]
        return {"seconds": seconds, "peak_rss": int(rss_file.read_text()),
                **{k: stats[k] for k in ("reviews", "users", "items")}}
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def row(n: int, folder: Path, result: dict) -> tuple[list[str], bool]:
    """A table row and whether it meets its target (sizes without one always do, unless they failed)."""
    size_mib = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
    if "error" in result:
        return [size_label(n), f"{size_mib:,.0f}", "failed: " + result["error"][:80], "", "", "", "", "", ""], False
    seconds, rss = result["seconds"], result["peak_rss"] / GIB
    limit = TARGETS.get(n)
    verdict = "-" if limit is None else ("PASS" if seconds <= limit[0] and rss <= limit[1] else "FAIL")
    cells = [size_label(n), f"{size_mib:,.0f}", f"{result['reviews']:,} ({result['reviews'] / n:.1%})",
             f"{result['users']:,}", f"{result['items']:,}", f"{seconds:.1f}", f"{seconds / n * 1e6:.1f}",
             f"{rss:.2f}", verdict if limit is None else f"{verdict} (<= {limit[0]:g} s, <= {limit[1]:g} GiB)"]
    return cells, verdict != "FAIL"


HEADER = ["reviews", "files MiB", "kept reviews (5-core)", "users", "items", "seconds", "s / M reviews",
          "peak RSS GiB", "target"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=None, help="review counts (default 1M,3M,10M)")
    parser.add_argument("--quick", action="store_true", help="a smoke check: 100k reviews unless --sizes is given")
    parser.add_argument("--work", type=Path, default=REPO / "data" / "amazon-scale",
                        help="where generated files are kept (reused by their parameters) and data is prepared")
    parser.add_argument("--seed", type=int, default=0, help="the generator's seed")
    args = parser.parse_args()
    sizes = args.sizes or ([100_000] if args.quick else [1_000_000, 3_000_000, 10_000_000])
    args.work.mkdir(parents=True, exist_ok=True)
    rows, ok = [], True
    for n in sizes:
        started = time.perf_counter()
        reused = (generated_folder(args.work, n, args.seed) / REVIEW_FILE).is_file()
        folder = write_amazon_2018(args.work, n, args.seed)
        print(f"{size_label(n)}: {'reused' if reused else 'generated'} {folder} "
              f"in {time.perf_counter() - started:.1f} s; preparing", file=sys.stderr, flush=True)
        result = prepare_cold(folder, args.work)
        if "error" in result:
            print(f"  {result['error']}", file=sys.stderr)
        cells, met = row(n, folder, result)
        rows.append(cells)
        ok &= met
        print("  " + " | ".join(cells), file=sys.stderr, flush=True)
    print("| " + " | ".join(HEADER) + " |\n|" + "---|" * len(HEADER))
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
