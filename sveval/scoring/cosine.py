"""Cosine scoring and cohort score normalisation (s-norm, adaptive s-norm): arrays in, arrays out.

Definitions (WeSpeaker's, DESIGN.md "Scoring and normalisation"):
    m                 mean of the cohort's utterance embeddings (or none, or given)
    cos(e, t)         cosine of the mean-subtracted embeddings
    cohort            per-speaker mean of the raw cohort embeddings, minus m, L2-normalised
    mu_x, sigma_x     mean and population std (ddof 0) of the N highest cohort scores of x (asnorm)
                      or of all of them (snorm)
    normalised score  0.5 * ((s - mu_e) / sigma_e + (s - mu_t) / sigma_t)

Two arithmetic modes:
    exact       float64 throughout, except the AS-norm cohort products, whose precision is the caller's
                choice (`product_dtype`): float32 (the default) is "fixed point": the unit rows rounded to
                multiples of 2**-26 and their products computed exactly (integers below 2**53 in a float64
                matrix product, so no BLAS kernel, blocking or row order can change a bit: a statistic
                depends only on its utterance and the cohort), error <= 2**-27 per component, ~6e-9 per
                product (see `fixed_point_error`); float64: plain float64 products (BLAS order);
                s-norm statistics come from the cohort's mean vector and Gram matrix
                (mu = x.c_bar, E[s^2] = x'Gx / C): the same sums reordered, no products needed.
    wespeaker   WeSpeaker's float32 arithmetic reproduced operation by operation (numpy 1.x promotion
                rules, which its requirements pin): float32 running sums for the mean vector and the
                speaker means, sklearn-style row norms and BLAS sdot for the cosine, the cosine rounded
                to 5 decimals before normalisation, float32 top-N mean/std over a descending sort,
                the final formula in float64.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from sveval.progress import progress as progress_bar

COMPAT_MODES = ("exact", "wespeaker")
METHODS = ("cos", "snorm", "asnorm")
MAX_WORKERS = 4  # threads computing cohort products (one product buffer of ~50 MB each)
SNORM = 0  # the `top_n` key under which s-norm (all cohort speakers) statistics are stored


@dataclass(frozen=True, eq=False)
class CohortStats:
    """Per-utterance cohort statistics: `mean[i]`, `std[i]` over the `top_n` best cohort scores
    (top_n == SNORM: over the whole cohort)."""

    top_n: int
    mean: np.ndarray
    std: np.ndarray


def _check_compat(compat: str) -> None:
    if compat not in COMPAT_MODES:
        raise ValueError(f"compat must be one of {COMPAT_MODES}, got {compat!r}")


def mean_vector(vectors: np.ndarray, compat: str = "exact", chunk: int = 65536) -> np.ndarray:
    """Mean of the rows. wespeaker: float32 running sum in row order divided by the count (float32),
    as `calculate_mean_from_kaldi_vec` does; exact: float64."""
    _check_compat(compat)
    if len(vectors) == 0:
        raise ValueError("mean of no vectors")
    if compat == "exact":
        return vectors.mean(axis=0, dtype=np.float64)
    acc = np.zeros(vectors.shape[1], dtype=np.float32)
    for start in range(0, len(vectors), chunk):
        block = np.asarray(vectors[start : start + chunk], dtype=np.float32)
        # cumsum adds row after row in float32: exactly the sequential `mean_vec += vec` of WeSpeaker
        acc = np.cumsum(np.vstack([acc[None], block]), axis=0, dtype=np.float32)[-1]
    return acc / np.float32(len(vectors))


def speaker_means(
    vectors: np.ndarray, speaker_codes: np.ndarray, n_speakers: int, compat: str = "exact", chunk: int = 65536
) -> np.ndarray:
    """Per-speaker mean of raw embeddings; utterances are summed in row order within each speaker
    (wespeaker: float32 running sums divided by the count, like tools/vector_mean.py)."""
    _check_compat(compat)
    order = np.argsort(speaker_codes, kind="stable")
    counts = np.bincount(speaker_codes, minlength=n_speakers)
    if (counts == 0).any():
        raise ValueError("every speaker needs at least one utterance")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    if compat == "exact":  # float64 sums, a block of rows at a time (no float64 copy of a large cohort)
        sums = np.zeros((n_speakers, vectors.shape[1]), dtype=np.float64)
        for lo in range(0, len(vectors), chunk):
            codes = speaker_codes[lo : lo + chunk]
            block_order = np.argsort(codes, kind="stable")
            present, first = np.unique(codes[block_order], return_index=True)
            block = np.asarray(vectors[lo : lo + chunk], dtype=np.float64)[block_order]
            sums[present] += np.add.reduceat(block, first, axis=0)
        return sums / counts[:, None]
    # WeSpeaker: a float32 running sum per speaker, utterance after utterance in file order
    sums = np.empty((n_speakers, vectors.shape[1]), dtype=np.float32)
    for k in range(int(counts.max())):
        has = counts > k
        rows = np.asarray(vectors[order[starts[has] + k]], dtype=np.float32)
        sums[has] = rows if k == 0 else sums[has] + rows
    return sums / counts[:, None].astype(np.float32)


def normalise_rows(x: np.ndarray, how: str = "exact") -> np.ndarray:
    """L2-normalise rows. how: 'exact' (float64), 'sklearn' (float32 einsum norms, as cosine_similarity
    does), 'score_norm' (float32 np.sum of squares, as WeSpeaker's score_norm.get_mean_std does)."""
    if how == "exact":
        x = np.asarray(x, dtype=np.float64)
        return x / np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
    x = np.asarray(x, dtype=np.float32)
    if how == "sklearn":
        return x / np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
    if how == "score_norm":
        return x / np.sqrt(np.sum(x**2, axis=1, keepdims=True))
    raise ValueError(f"unknown normalisation {how!r}")


def row_norms(x: np.ndarray, compat: str = "exact") -> np.ndarray:  # compat: exact | wespeaker
    """|x| per row: float64, or float32 via BLAS sdot per row (np.linalg.norm of a float32 vector)."""
    if compat == "exact":
        x = np.asarray(x, dtype=np.float64)
        return np.sqrt(np.einsum("ij,ij->i", x, x))
    x = np.asarray(x, dtype=np.float32)
    return np.sqrt(np.matmul(x[:, None, :], x[:, :, None])[:, 0, 0])


def pair_dots(a: np.ndarray, left: np.ndarray, right: np.ndarray, compat: str = "exact", chunk: int = 2048):
    """a[left[k]] . a[right[k]] for every k, in a's dtype (each value depends only on its two rows, not
    on `chunk`).

    wespeaker: batched (1,d)@(d,1) products, which numpy runs one by one through its vector dot (BLAS
    sdot), the kernel sklearn's cosine_similarity of two single rows ends in; exact: einsum.
    chunk: 2,048 pairs of 256-dim float64 rows gather 8 MB, which the product reads back from the cache:
    half the CPU time of 16,384-pair chunks on the Vox1-E list (0.4 s against 0.8-1.0 s)."""
    out = np.empty(len(left), dtype=a.dtype)
    for start in range(0, len(left), chunk):
        stop = start + chunk
        lhs = np.take(a, left[start:stop], axis=0)
        rhs = np.take(a, right[start:stop], axis=0)
        if compat == "wespeaker":
            out[start:stop] = np.matmul(lhs[:, None, :], rhs[:, :, None])[:, 0, 0]
        else:
            out[start:stop] = np.einsum("ij,ij->i", lhs, rhs)
    return out


def round_half_even_decimal(values: np.ndarray, digits: int, chunk: int = 1 << 20) -> np.ndarray:
    """What float('%.{digits}f' % v) gives, for every v: the value as WeSpeaker re-reads it from a file.
    Computed `chunk` values at a time: the temporaries stay small on lists of tens of millions."""
    from sveval.io.score_text import beyond_int64, decimal_integers  # pure numpy, beside the formatter

    values = np.asarray(values, dtype=np.float64)
    rounded = np.empty_like(values)
    for lo in range(0, len(values), chunk):
        part = values[lo : lo + chunk]
        k, negative = decimal_integers(part, digits)
        out = k / float(10**digits)
        # beyond int64 the float's spacing dwarfs 10**-digits: the rounded text reads back as the value
        rounded[lo : lo + chunk] = np.where(beyond_int64(part, digits), part, np.where(negative, -out, out))
    return rounded


FIXED_BITS = 26  # fractional bits of the rounded unit rows whose cohort products are exact


def fixed_point(rows: np.ndarray) -> np.ndarray:
    """Rows of norm <= 1 rounded to multiples of 2**-FIXED_BITS, as integers (float64: rint(x * 2**26))."""
    return np.rint(np.ldexp(np.asarray(rows, dtype=np.float64), FIXED_BITS))


def fixed_point_error(dim: int) -> float:
    """Bound on |fixed-point product - exact product| of two unit rows of `dim` dimensions: each component
    is off by <= 2**-27, so the error is <= 2**-27 (|x|_1 + |y|_1) + dim 2**-54
    <= 2**-27 2 sqrt(dim) + dim 2**-54 (about 2.4e-7 at dim 256; typical: 2**-27 sqrt(2/3) = 6e-9)."""
    return 2.0 ** -(FIXED_BITS + 1) * 2 * np.sqrt(dim) * (1 + 1e-12) + dim * 2.0 ** -(2 * FIXED_BITS + 2)


def _exact_product_operands(queries: np.ndarray, cohort_norm: float) -> None:
    """Refuse operands whose integer products could reach 2**53 (every partial sum of x.y is at most
    |x| |y| by Cauchy-Schwarz, whatever the order of the sums, so |x| |y| < 2**53 keeps them all exact)."""
    if not np.sqrt(np.einsum("ij,ij->i", queries, queries).max()) * cohort_norm < 2.0**53:
        raise ValueError("fixed-point cohort products need rows of norm <= 1 (normalised rows)")


def cohort_statistics(
    queries: np.ndarray,
    cohort: np.ndarray,
    top_ns: tuple[int, ...],
    compat: str = "exact",
    product_dtype=np.float32,
    chunk_rows: int = 2048,
    progress: bool = False,
) -> dict[int, CohortStats]:
    """Statistics of each (normalised) query row against the (normalised) cohort rows.

    top_ns: the N of each asnorm wanted, SNORM (0) for s-norm. Cohort products are computed chunk by chunk
    (never the whole queries x cohort matrix).
    exact: products by `product_dtype`: float32 means fixed point (see the module docstring: exact
    products of the rows rounded to 2**-26, the same bits whatever the other rows, their order or the
    BLAS), float64 plain float64 products; the N largest of a row are found among the values above a
    guessed threshold (`_top_stats`) and their mean/std accumulated in float64 in ascending order; s-norm
    from the Gram matrix in float64 (no products).
    wespeaker: float32 products, float32 np.mean / np.std of the descending sorted values (np.partition,
    then a sort of the N largest: the summation order of WeSpeaker's full descending sort).
    """
    _check_compat(compat)
    n_cohort = len(cohort)
    for n in top_ns:
        if n != SNORM and not 1 <= n <= n_cohort:
            raise ValueError(f"top-N {n} needs a cohort of at least {n} speakers, got {n_cohort}")
    fixed = compat == "exact" and np.dtype(product_dtype) == np.float32
    if compat == "wespeaker":
        product_dtype = np.float32
    out_dtype = np.float64 if compat == "exact" else np.float32
    out = {n: (np.empty(len(queries), out_dtype), np.empty(len(queries), out_dtype)) for n in top_ns}
    if compat == "exact" and SNORM in top_ns:
        _snorm_from_gram(
            np.asarray(queries, dtype=np.float64), np.asarray(cohort, dtype=np.float64), *out[SNORM]
        )
    partial = [n for n in top_ns if compat == "wespeaker" or n != SNORM]
    if not partial:
        return {n: CohortStats(n, mean, std) for n, (mean, std) in out.items()}
    if fixed:  # integers in float64: exact products, 2**52 times the rounded rows' products
        product_dtype, scale = np.float64, 2.0 ** (-2 * FIXED_BITS)
        cohort_t = np.ascontiguousarray(fixed_point(cohort).T)
        cohort_norm = float(np.sqrt(np.einsum("ij,ij->j", cohort_t, cohort_t).max()))
        # 8-byte products and the selection's temporaries (~15 MB per 512 rows): 512-row chunks keep the
        # peak memory of the 1,024-row chunks that np.partition had (Vox1-E: 0.92 GB against 0.97 GB
        # with 1,024 rows), at the same speed
        chunk_rows = max(1, chunk_rows // 4)
    else:
        scale = None
        cohort_t = np.ascontiguousarray(np.asarray(cohort, dtype=product_dtype).T)
    if compat == "exact":  # the mean and second moment of a row's products, from these (see _selection_guess)
        centroid, gram = cohort_t.mean(axis=1), (cohort_t @ cohort_t.T) / n_cohort
    bar = progress_bar(
        total=len(queries), desc="cohort statistics", unit="utt", disable=not progress, leave=False
    )
    chunks = iter(range(0, len(queries), chunk_rows))
    take, stop_early = threading.Lock(), threading.Event()

    def worker() -> None:
        # Each worker computes the products of a chunk and selects them, then takes the next chunk: the
        # cores share the products and the selection alike, with no idle core while a slower stage waits
        # (the pipeline this replaced, products on one core and selection on the other, left the selecting
        # core a third idle once the products were float64: 0.59 s of products against 0.39 s of
        # selection per 8,192 rows of 5,994 speakers).
        # One product buffer (and, in exact mode, one mask) per worker, reused: fresh 50 MB arrays per
        # chunk cost more in page faults (system time) than the selection itself.
        products_buffer = np.empty((min(chunk_rows, len(queries)), n_cohort), product_dtype)
        mask_buffer = np.empty(products_buffer.shape, bool) if compat == "exact" else None
        while True:
            with take:
                start = next(chunks, None)
            if start is None or stop_early.is_set():
                return
            stop = min(start + chunk_rows, len(queries))
            products = products_buffer[: stop - start]
            if fixed:
                block = fixed_point(queries[start:stop])
                _exact_product_operands(block, cohort_norm)
            else:
                block = np.asarray(queries[start:stop], dtype=product_dtype)
            np.matmul(block, cohort_t, out=products)
            if compat == "exact":
                guess = _selection_guess(block, centroid, gram, max(partial), n_cohort)
                stats = _top_stats(products, partial, guess, mask_buffer[: stop - start], scale)
            else:
                stats = _wespeaker_row_stats(products, partial, n_cohort)
            for n, (mean, std) in stats.items():
                out[n][0][start:stop] = mean  # disjoint slices: no lock needed
                out[n][1][start:stop] = std
            bar.update(stop - start)

    # One BLAS thread per worker thread (numpy releases the GIL in matmul, sorts and selections): BLAS threads
    # spinning beside selection threads on the same cores were slower, much slower on a loaded machine.
    # A row's statistics depend only on that row (exact products, a per-row selection), never on which
    # worker or chunk computed it.
    workers = max(1, min(_usable_cpus(), -(-len(queries) // chunk_rows), MAX_WORKERS))
    with _one_blas_thread(), ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = [pool.submit(worker) for _ in range(workers)]
        try:
            for job in jobs:
                job.result()
        finally:  # an error or Ctrl-C: the other workers stop after their current chunk
            stop_early.set()
            bar.close()
    return {n: CohortStats(n, mean, std) for n, (mean, std) in out.items()}


def _usable_cpus() -> int:
    """CPUs this process may run on (an affinity mask or a container may allow fewer than the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        return os.cpu_count() or 1


def _one_blas_thread():
    """Limit BLAS to one thread for the block (threadpoolctl, present with scikit-learn); else no-op."""
    try:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415
    except ImportError:  # pragma: no cover
        from contextlib import nullcontext  # noqa: PLC0415

        return nullcontext()
    return threadpool_limits(1, user_api="blas")


def _wespeaker_row_stats(products: np.ndarray, top_ns, n_cohort: int) -> dict:
    """WeSpeaker's statistics of each row of float32 `products` (a scratch buffer, reordered in place):
    np.sort(..)[:, ::-1][:, :top_n], then float32 np.mean / np.std of that view."""
    result = {}
    full_sort = SNORM in top_ns or any(n == n_cohort for n in top_ns)
    if full_sort:
        products.sort(axis=1)
    ranked = products[:, ::-1] if full_sort else None
    for n in top_ns:
        if ranked is not None:
            top = ranked[:, : (n_cohort if n == SNORM else n)]
        else:
            products.partition(n_cohort - n, axis=1)
            top = np.sort(products[:, n_cohort - n :], axis=1)[:, ::-1]
        result[n] = (np.mean(top, axis=1), np.std(top, axis=1))
    return result


def _top_stats(products: np.ndarray, top_ns, guess: np.ndarray, mask: np.ndarray, scale) -> dict:
    """Mean and population std of the N largest values of each row of `products` (exact mode), for each N
    of `top_ns`, computed from those N values in ascending order (numpy's mean, then the mean of the
    squared deviations): the bits depend only on the row's multiset of values, never on where the values
    were or which of several equal values was taken.

    Selection without partitioning whole rows: `guess` is, per row, a value that about CANDIDATES x the
    largest N values reach (from the row's mean and spread, see `_selection_guess`); the values >= it are
    gathered (in column order), checked to be at least N and at most 2N + 64 (else that row's threshold
    becomes its N-th largest value, by np.partition, so the check holds by construction, ties aside),
    and sorted. Every value >= the threshold is a candidate, so whenever the threshold is at most the N-th
    largest value, the candidates' N largest are the row's N largest. On 1,024 rows x 5,994 speakers,
    N = 300, one core: about 20 ms (compare, gather, sort of ~390 candidates) against 50 ms to np.partition
    the rows, which was 45 % of the cohort statistics' time (the exact products: 58 ms).
    mask: a bool scratch buffer of products' shape. scale: a power of two (exact) applied at the end."""
    n_rows, n_cohort = products.shape
    n_max = max(top_ns)
    threshold = guess.copy()
    np.greater_equal(products, threshold[:, None], out=mask)
    counts = np.count_nonzero(mask, axis=1)
    redo = np.flatnonzero((counts < n_max) | (counts > 2 * n_max + 64))
    if redo.size:
        threshold[redo] = np.partition(products[redo], n_cohort - n_max, axis=1)[:, n_cohort - n_max]
        mask[redo] = products[redo] >= threshold[redo, None]
        counts[redo] = np.count_nonzero(mask[redo], axis=1)
    where = np.flatnonzero(mask)  # row by row, columns ascending
    width = int(counts.max())
    starts = np.cumsum(counts) - counts
    rows = np.repeat(np.arange(n_rows), counts)
    candidates = np.full((n_rows, width), -np.inf)
    candidates[rows, np.arange(len(where)) - starts[rows]] = products.ravel().take(where)
    candidates.sort(axis=1)  # ascending; the -inf padding first
    result = {}
    for n in top_ns:
        top = np.ascontiguousarray(candidates[:, width - n :])
        mean = top.mean(axis=1)
        std = np.sqrt(np.mean((top - mean[:, None]) ** 2, axis=1))
        result[n] = (mean, std) if scale is None else (mean * scale, std * scale)
    return result


CANDIDATES = 1.25  # the selection guess aims at about 1.25 N + 32 values per row (see _selection_guess)


def _selection_guess(block: np.ndarray, centroid: np.ndarray, gram: np.ndarray, n: int, n_cohort: int):
    """Per row of `block`, mean + z std of its products with the cohort (computed from the cohort's
    `centroid` and `gram` / n_cohort, as s-norm's statistics are: 4 % of the products' time), z the normal
    quantile that about CANDIDATES x n + 32 of n_cohort values exceed. Cohort scores are close to normal;
    where they are not, `_top_stats` corrects the rows whose count falls outside [n, 2n + 64]: only speed
    depends on this guess, never a bit of a statistic."""
    target = CANDIDATES * n + 32
    if target >= n_cohort:
        return np.full(len(block), -np.inf)
    mean = block @ centroid
    std = np.sqrt(np.maximum(np.einsum("ij,ij->i", block @ gram, block) - mean**2, 0.0))
    return mean + NormalDist().inv_cdf(1 - target / n_cohort) * std


def _snorm_from_gram(queries: np.ndarray, cohort: np.ndarray, mean_out, std_out) -> None:
    """s-norm over the whole cohort without the products: mean = x.c_bar, var = x'Gx/C - mean^2."""
    n_cohort = len(cohort)
    centroid = cohort.sum(axis=0) / n_cohort
    gram = (cohort.T @ cohort) / n_cohort
    for start in range(0, len(queries), 65536):
        x = queries[start : start + 65536]
        mean = x @ centroid
        second = np.einsum("ij,ij->i", x @ gram, x)
        mean_out[start : start + len(x)] = mean
        std_out[start : start + len(x)] = np.sqrt(np.maximum(second - mean**2, 0.0))


def normalise_scores(
    scores: np.ndarray,
    enroll: np.ndarray,
    test: np.ndarray,
    stats: CohortStats,
) -> np.ndarray:
    """0.5 * ((s - mu_e)/sigma_e + (s - mu_t)/sigma_t) in float64 (stats indexed by utterance index)."""
    s = np.asarray(scores, dtype=np.float64)
    mean = stats.mean.astype(np.float64)
    std = stats.std.astype(np.float64)
    return 0.5 * ((s - mean[enroll]) / std[enroll] + (s - mean[test]) / std[test])
