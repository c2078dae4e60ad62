"""Fast hashed TF-IDF features for the baseline.

scikit-learn's ``TfidfVectorizer`` with character n-grams builds every n-gram as a Python
string and looks it up in a dict: about 2,000 listings/s per core, too slow for scanning
millions of rows. :class:`CharNgramHasher` computes the same kind of features with numpy over
a whole batch at once: the batch becomes one array of code points, each n-gram a rolling
64-bit hash, and the counts a sparse matrix; :class:`WordNgramHasher` does the same for word
unigrams and bigrams (a word is a run of ``\\w`` characters, as in scikit-learn's default
token pattern). Both are weighted with sublinear TF-IDF and
L2-normalised, as ``TfidfVectorizer(sublinear_tf=True)`` would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import sparse

_MULTIPLIER = np.uint64(1_000_003)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _word_char_table() -> np.ndarray:
    """For every code point of the Basic Multilingual Plane: is it a ``\\w`` character?"""
    table = np.array([chr(i).isalnum() or i == 0x5F for i in range(0x10000)], dtype=bool)
    assert not table[0xFFFF]  # stands in for every code point above it
    return table


_IS_WORD = _word_char_table()


def _encode(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Lower-cased, space-padded texts as one uint64 code-point array with 0 between texts,
    and the text index (uint32) of every position."""
    padded = [f" {t.lower().replace(chr(0), ' ')} " for t in texts]
    lengths = np.fromiter(map(len, padded), dtype=np.int64, count=len(padded))
    codes = np.frombuffer("\x00".join(padded).encode("utf-32-le"), dtype=np.uint32)
    doc = np.repeat(np.arange(len(padded), dtype=np.uint32), lengths + 1)[: len(codes)]
    return codes.astype(np.uint64), doc


def _mix(h: np.ndarray, n_features: int) -> np.ndarray:
    """Spread a 64-bit hash over ``n_features`` (a power of two, at most 2^24) buckets, as
    uint32 column ids (half the memory of the uint64 hashes, and already the sort-key type)."""
    return (((h * _MIX) >> np.uint64(40)) & np.uint64(n_features - 1)).astype(np.uint32)


Layout = Literal["csr", "csc"]
CSC_MIN_TEXTS = 512  # batches this large are multiplied as CSC (see HashedTfidf.dot)


@dataclass(frozen=True)
class _Counts:
    """How often each (text, feature) pair occurs: sorted unique pairs and their counts.

    Sorted by text then feature for the ``csr`` layout, by feature then text for ``csc``;
    within a text the features ascend either way, so both layouts sum a row in one order.
    """

    rows: np.ndarray
    cols: np.ndarray
    counts: np.ndarray
    indptr: np.ndarray
    shape: tuple[int, int]
    layout: Layout

    def matrix(self, data: np.ndarray) -> sparse.csr_matrix | sparse.csc_matrix:
        """The sparse matrix with ``data`` (one value per pair) in this layout."""
        if self.layout == "csr":
            return sparse.csr_matrix((data, self.cols, self.indptr), shape=self.shape)
        return sparse.csc_matrix((data, self.rows, self.indptr), shape=self.shape)

    def count_matrix(self) -> sparse.csr_matrix | sparse.csc_matrix:
        """The raw counts as a float32 sparse matrix."""
        return self.matrix(self.counts.astype(np.float32))


def _count_pairs(rows: list[np.ndarray], cols: list[np.ndarray], shape: tuple[int, int],
                 layout: Layout = "csr") -> _Counts:
    """Count the (row, column) pairs, ready for a CSR or a CSC matrix.

    One sort of packed keys replaces scipy's COO conversion, duplicate summing and index
    sorting, which cost three times as much. Keys are 32-bit when rows and columns fit
    (a batch of up to 2^32 / n_cols texts): numpy sorts those about three times faster.
    Sorting by column first gives the CSC layout for free, and CSC times the dense weight
    matrix walks the weights in address order (3-4x faster than CSR, whose random row
    reads miss the cache).
    """
    n_rows, n_cols = shape
    row_bits = max(int(n_rows - 1).bit_length(), 1)
    col_bits = max(int(n_cols - 1).bit_length(), 1)
    key_type = np.uint32 if row_bits + col_bits <= 32 else np.uint64
    by_row = layout == "csr"
    minor_bits = key_type(col_bits if by_row else row_bits)
    keys = np.empty(sum(len(r) for r in rows), dtype=key_type)
    start = 0
    for r, c in zip(rows, cols, strict=True):
        major, minor = (r, c) if by_row else (c, r)
        part = keys[start : start + len(r)]
        part[:] = major
        part <<= minor_bits
        part |= minor.astype(key_type, copy=False)
        start += len(r)
    # the caller's per-n-gram arrays are not needed past this point: free them before the
    # sort and what follows, which is the peak (about a third less memory per batch)
    rows.clear()
    cols.clear()
    keys.sort()
    # bounds of each run of equal keys, with the end as the last bound
    change = np.empty(len(keys) + 1, dtype=bool)
    change[0] = change[-1] = True
    np.not_equal(keys[1:], keys[:-1], out=change[1:-1])
    bounds = np.flatnonzero(change)
    del change
    unique = keys[bounds[:-1]]
    del keys
    counts = np.diff(bounds)
    del bounds
    major_ids = (unique >> minor_bits).astype(np.int32)
    minor_ids = (unique & key_type((1 << int(minor_bits)) - 1)).astype(np.int32)
    n_major = n_rows if by_row else n_cols
    index_type = np.int64 if len(unique) >= 2**31 else np.int32
    indptr = np.zeros(n_major + 1, dtype=index_type)
    if len(unique):  # entries per major index, from where the sorted major ids change
        starts = np.flatnonzero(np.r_[True, major_ids[1:] != major_ids[:-1]])
        indptr[major_ids[starts] + 1] = np.diff(np.r_[starts, len(unique)])
        np.cumsum(indptr, out=indptr)
    rows_of, cols_of = (major_ids, minor_ids) if by_row else (minor_ids, major_ids)
    return _Counts(rows_of, cols_of, counts, indptr, (n_rows, n_cols), layout)


def _sublinear_tfidf(counts: _Counts, idf: np.ndarray) -> sparse.csr_matrix | sparse.csc_matrix:
    """``TfidfTransformer(sublinear_tf=True).transform`` with the fitted ``idf``.

    Same arithmetic (float64: 1 + log(tf), times idf, rows L2-normalised), without
    scikit-learn's per-call input checks, which cost ~3 ms a call and dominated the latency
    of scoring one listing.
    """
    tf = counts.counts
    # 1 + log(tf) looked up per distinct count: a handful of values, not one log per entry
    data = (1.0 + np.log(np.arange(1, int(tf.max(initial=0)) + 1, dtype=np.float64)))[tf - 1]
    data *= idf[counts.cols]
    squares = data * data
    if counts.layout == "csc":
        # row sums through scipy's sparse product: 2-3x faster than a weighted bincount
        # over CSC-ordered rows, and the same sums in the same order
        squared_norms = counts.matrix(squares) @ np.ones(counts.shape[1])
    else:  # CSR is for small batches: no work proportional to the feature count
        squared_norms = np.bincount(counts.rows, weights=squares, minlength=counts.shape[0])
    del squares
    norms = np.sqrt(squared_norms)
    norms[norms == 0] = 1.0  # a text with no n-gram keeps its empty row
    data /= norms[counts.rows]
    return counts.matrix(data.astype(np.float32))


def _smooth_idf(counts: _Counts) -> np.ndarray:
    """scikit-learn's smoothed idf, ``ln((1 + n) / (1 + df)) + 1``, in the same float32 steps
    as ``TfidfTransformer(smooth_idf=True).fit`` on float32 counts (a test checks they are
    equal)."""
    document_frequency = np.bincount(counts.cols, minlength=counts.shape[1]).astype(np.float32)
    document_frequency += np.float32(1.0)
    return np.log((counts.shape[0] + 1) / document_frequency) + np.float32(1.0)


def _check_n_features(n_features: int) -> int:
    if n_features < 2 or n_features & (n_features - 1):
        raise ValueError(f"n_features must be a power of two, got {n_features}")
    return int(n_features)


class _NgramHasher:
    """Shared frame: encode the batch once, let the subclass hash its n-grams, count them."""

    ngram_range: tuple[int, int]
    n_features: int

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Raw n-gram counts, one CSR row per text."""
        if not texts:
            return sparse.csr_matrix((0, self.n_features), dtype=np.float32)
        counts = self.count_encoded(*_encode(texts), n_texts=len(texts))
        return counts.count_matrix()

    def count_encoded(self, codes: np.ndarray, doc: np.ndarray, *, n_texts: int,
                      layout: Layout = "csr") -> _Counts:
        """The n-gram counts of texts already encoded by ``_encode`` (shared by hashers)."""
        return _count_pairs(*self._ngrams(codes, doc), (n_texts, self.n_features), layout)

    def _ngrams(
        self, codes: np.ndarray, doc: np.ndarray
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(text index, hashed column) arrays for every n-gram of the encoded batch."""
        raise NotImplementedError


class CharNgramHasher(_NgramHasher):
    """Counts of hashed character n-grams (lower-cased, each text padded with spaces)."""

    def __init__(self, ngram_range: tuple[int, int] = (2, 5), n_features: int = 2**20) -> None:
        low, high = ngram_range
        if not 1 <= low <= high:
            raise ValueError(f"ngram_range must satisfy 1 <= low <= high, got {ngram_range}")
        self.ngram_range = (int(low), int(high))
        self.n_features = _check_n_features(n_features)

    def _ngrams(
        self, codes: np.ndarray, doc: np.ndarray
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        # characters left before the next separator: a window of n is valid where >= n
        ends = np.r_[np.flatnonzero(codes == 0), len(codes)]
        remaining = np.repeat(ends, np.diff(np.r_[-1, ends]))[: len(codes)] - np.arange(
            len(codes))
        rows, cols = [], []
        low, high = self.ngram_range
        h = np.zeros(len(codes), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for n in range(1, high + 1):
                count = len(codes) - n + 1
                if count <= 0:
                    break
                # extend every (n-1)-gram hash by one character: h_n[i] = h_(n-1)[i]·M + c[i+n-1]
                h = h[:count] * _MULTIPLIER + codes[n - 1 : n - 1 + count]
                if n < low:
                    continue
                keep = np.flatnonzero(remaining[:count] >= n)
                rows.append(doc[keep])
                cols.append(_mix(h[keep] ^ np.uint64(n), self.n_features))
        return rows, cols


class WordNgramHasher(_NgramHasher):
    """Counts of hashed word unigrams and bigrams; a word is a run of ``\\w`` characters."""

    def __init__(self, ngram_range: tuple[int, int] = (1, 2), n_features: int = 2**20) -> None:
        if tuple(ngram_range) not in ((1, 1), (1, 2), (2, 2)):
            raise ValueError(f"word ngram_range must be (1, 1), (1, 2) or (2, 2), got "
                             f"{ngram_range}")
        self.ngram_range = (int(ngram_range[0]), int(ngram_range[1]))
        self.n_features = _check_n_features(n_features)

    def _ngrams(
        self, codes: np.ndarray, doc: np.ndarray
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        # beyond the Basic Multilingual Plane nothing counts as a word character: those
        # code points read U+FFFF's entry, which is False
        in_word = _IS_WORD[np.minimum(codes, np.uint64(0xFFFF)).astype(np.intp)]
        changes = np.r_[False, in_word[:-1]] != in_word  # a run of word / non-word starts
        if not in_word.any():
            return [], []
        positions = np.arange(len(codes))
        offset = positions - np.maximum.accumulate(np.where(changes, positions, 0))
        with np.errstate(over="ignore"):
            powers = np.cumprod(np.full(int(offset.max()) + 1, _MULTIPLIER, dtype=np.uint64))
            contribution = np.where(in_word, codes * powers[offset], np.uint64(0))
            # sum each word's run (reduceat over run starts) — runs between words add 0
            bounds = np.flatnonzero(changes)
            if len(bounds) == 0 or bounds[0] != 0:
                bounds = np.r_[0, bounds]
            run_sums = np.add.reduceat(contribution, bounds)
            run_is_word = in_word[bounds]
            word_hash = run_sums[run_is_word]
            word_doc = doc[bounds[run_is_word]]
            rows, cols = [], []
            if self.ngram_range[0] == 1:
                rows.append(word_doc)
                cols.append(_mix(word_hash ^ np.uint64(1), self.n_features))
            if self.ngram_range[1] == 2 and len(word_hash) > 1:
                same = word_doc[1:] == word_doc[:-1]
                pair = word_hash[:-1] * _MULTIPLIER + word_hash[1:] + np.uint64(2)
                rows.append(word_doc[:-1][same])
                cols.append(_mix(pair[same], self.n_features))
        return rows, cols


class HashedTfidf:
    """Word and character hashed n-grams, each block sublinear-TF-IDF weighted and normalised.

    The fitted state is two idf vectors (plain arrays, so a saved model loads without
    importing scikit-learn; models saved with scikit-learn ``TfidfTransformer`` objects still
    load, see :meth:`__setstate__`).
    """

    def __init__(
        self,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (2, 5),
        n_features: int = 2**20,
    ) -> None:
        self.word = WordNgramHasher(tuple(word_ngrams), n_features)
        self.char = CharNgramHasher(tuple(char_ngrams), n_features)
        self.word_idf_: np.ndarray | None = None
        self.char_idf_: np.ndarray | None = None
        self.n_word_features = n_features

    def __setstate__(self, state: dict) -> None:
        for block in ("word", "char"):
            fitted = state.pop(f"{block}_tfidf", None)  # written before the idf arrays
            if fitted is not None:
                state[f"{block}_idf_"] = fitted.idf_
        self.__dict__.update(state)

    def _count_both(self, texts: Sequence[str], layout: Layout = "csr"
                    ) -> tuple[_Counts, _Counts]:
        """(word counts, char counts); the batch is encoded once for both hashers (the
        encoding is about a tenth of the cost)."""
        codes, doc = _encode(texts)
        n = len(texts)
        return (self.word.count_encoded(codes, doc, n_texts=n, layout=layout),
                self.char.count_encoded(codes, doc, n_texts=n, layout=layout))

    def fit(self, texts: Sequence[str]) -> HashedTfidf:
        self._fit_counts(*self._count_both(texts))
        return self

    def document_frequency(self, texts: Sequence[str]) -> np.ndarray:
        """How many of ``texts`` hold each feature (word block, then character block).

        Needs no fitting: the columns are hashes, whatever the idf weights."""
        if not texts:
            return np.zeros(2 * self.n_word_features, dtype=np.int64)
        word, char = self._count_both(texts)
        return np.concatenate([np.bincount(word.cols, minlength=self.n_word_features),
                               np.bincount(char.cols, minlength=self.n_word_features)])

    def _fit_counts(self, word: _Counts, char: _Counts) -> None:
        self.word_idf_ = _smooth_idf(word)
        self.char_idf_ = _smooth_idf(char)

    def _weighted(self, word: _Counts, char: _Counts, layout: Layout
                  ) -> sparse.csr_matrix | sparse.csc_matrix:
        """Both blocks of counts TF-IDF weighted, side by side."""
        return sparse.hstack([_sublinear_tfidf(word, self.word_idf_),
                              _sublinear_tfidf(char, self.char_idf_)],
                             format=layout, dtype=np.float32)

    def transform(self, texts: Sequence[str], layout: Layout = "csr"
                  ) -> sparse.csr_matrix | sparse.csc_matrix:
        """TF-IDF rows for ``texts``: word block then character block.

        ``layout="csc"`` gives the same matrix in CSC form, which multiplies a dense weight
        matrix several times faster (see :func:`_count_pairs`).
        """
        if layout not in ("csr", "csc"):
            raise ValueError(f"layout must be 'csr' or 'csc', got {layout!r}")
        if not texts:
            return sparse.csr_matrix((0, 2 * self.n_word_features), dtype=np.float32
                                     ).asformat(layout)
        if self.word_idf_ is None or self.char_idf_ is None:
            raise RuntimeError("the features are not fitted; call fit() first")
        return self._weighted(*self._count_both(texts, layout), layout)

    def dot(self, texts: Sequence[str], weights: np.ndarray) -> np.ndarray:
        """``transform(texts) @ weights`` for a dense ``weights`` (features × k), faster.

        Works in batches whose sort keys fit in 32 bits and whose output block stays in
        cache, large batches as CSC (see :func:`_count_pairs`); the sums are the same.
        """
        if weights.shape[0] != 2 * self.n_word_features:
            raise ValueError(f"weights have {weights.shape[0]} rows, the features "
                             f"{2 * self.n_word_features}")
        out = np.empty((len(texts), weights.shape[1]), dtype=np.result_type(weights,
                                                                           np.float32))
        step = max(1, 2**32 // self.n_word_features)
        for start in range(0, len(texts), step):
            batch = texts[start : start + step]
            # CSC has costs proportional to the feature count (its column pointers): below
            # ~500 texts CSR is faster (one listing: 2 ms against 10)
            layout: Layout = "csc" if len(batch) >= CSC_MIN_TEXTS else "csr"
            out[start : start + len(batch)] = self.transform(batch, layout=layout) @ weights
        return out

    def fit_transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """:meth:`fit` then :meth:`transform`, counting the n-grams once for both."""
        word, char = self._count_both(texts)
        self._fit_counts(word, char)
        return self._weighted(word, char, "csr")
