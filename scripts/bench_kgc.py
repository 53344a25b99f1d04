"""Benchmark: filtered evaluation of a ComplEx-200 on FB15k-237 test (both sides).

Prints JSON lines; the last one holds ``eval_seconds_fb15k237`` (our vectorized
evaluator on the whole test split) and ``speedup_vs_pykeen``: PyKEEN's
``RankBasedEvaluator`` on a PyKEEN ComplEx of the same size and the same weights,
timed in the same run on the first ``--compare-triples`` test triples against our
evaluator on the same triples (PyKEEN takes tens of minutes for the whole split on
2 cores, so the ratio is measured on a prefix; ``speedup_triples`` says how many).
``null`` with a ``pykeen_reason`` when PyKEEN is not installed. Weights are
random (the speed does not depend on them); both evaluators rank the same tail
queries, so their tail-side MRR must agree, which is printed as a sanity check.

Usage::

    python scripts/bench_kgc.py            # whole test split (20,466 triples, both sides)
    python scripts/bench_kgc.py --quick    # 2,000 triples; PyKEEN ratio on 200 (same keys)
"""

from __future__ import annotations

import argparse
import time
import warnings

from graphformers.utils.io import strict_json_dumps


def _emit(row: dict) -> None:
    print(strict_json_dumps(row), flush=True)


def bench_ours(kg, model, test, batch_size: int) -> tuple[float, dict]:
    from graphformers.evaluation.ranking import FilterIndex
    from graphformers.kg.evaluate import evaluate_link_prediction

    t0 = time.perf_counter()
    fi = FilterIndex(kg.all_triples(), kg.num_nodes, kg.num_relations)
    acc = evaluate_link_prediction(model, test, fi, num_relations=kg.num_relations, batch_size=batch_size)
    return time.perf_counter() - t0, acc.summary()


def compare_triples_arg(value: str) -> int:
    """``--compare-triples``: a count >= 0 (0 skips the PyKEEN comparison)."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--compare-triples must be an integer >= 0, got {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"--compare-triples must be >= 0 (0 skips the comparison), got {n}")
    return n


def bench_pykeen(kg, model, test, batch_size: int) -> tuple[float | None, dict | None, str | None]:
    """PyKEEN's filtered evaluation of ``test`` with the same weights and the same filter set as ours.

    Both evaluators filter with all known triples (train, valid and the whole test
    split, ``kg.all_triples()``), even when ``test`` is a prefix of the test split.
    """
    try:
        import torch
        from pykeen.evaluation import RankBasedEvaluator
        from pykeen.models import ComplEx as PyKEENComplEx
        from pykeen.triples import CoreTriplesFactory
    except ImportError as err:
        return None, None, f"pykeen not installed ({err.name}); pip install pykeen to compare"
    tf = CoreTriplesFactory.create(kg.train, num_entities=kg.num_nodes, num_relations=kg.num_relations)
    pk = PyKEENComplEx(triples_factory=tf, embedding_dim=model.hidden_channels, random_seed=0)
    with torch.no_grad():  # same weights: PyKEEN stores complex numbers as (re, im) pairs
        ent = torch.view_as_complex(torch.stack([model.node_emb.weight, model.node_emb_im.weight], dim=-1))
        rel = torch.view_as_complex(torch.stack([model.rel_emb.weight[: kg.num_relations],
                                                 model.rel_emb_im.weight[: kg.num_relations]], dim=-1))
        pk.entity_representations[0]._embeddings.weight.copy_(torch.view_as_real(ent).reshape(kg.num_nodes, -1))
        pk.relation_representations[0]._embeddings.weight.copy_(
            torch.view_as_real(rel).reshape(kg.num_relations, -1))
    evaluator = RankBasedEvaluator(filtered=True)
    t0 = time.perf_counter()
    res = evaluator.evaluate(pk, mapped_triples=test, additional_filter_triples=[kg.train, kg.valid, kg.test],
                             batch_size=batch_size, use_tqdm=False)
    seconds = time.perf_counter() - t0
    metrics = {side: res.get_metric(f"{side}.realistic.inverse_harmonic_mean_rank") for side in ("tail", "both")}
    return seconds, metrics, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="first 2,000 test triples only (< 2 minutes)")
    parser.add_argument("--compare-triples", type=compare_triples_arg, default=None,
                        help="test triples on which both evaluators are timed for the ratio (default 1000, "
                             "quick: 200; 0 skips the comparison)")
    parser.add_argument("--dim", type=int, default=200, help="ComplEx complex rank (PyKEEN embedding_dim)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--pykeen-batch-size", type=int, default=64,
                        help="PyKEEN's ComplEx materializes [B, N, d] complex tensors: keep B small (RAM)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--no-pykeen", action="store_true")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from graphformers.datasets.kg import load_kg_dataset
    from graphformers.kg.models import ComplEx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kg = load_kg_dataset("fb15k-237")
    test = kg.test[:2000] if args.quick else kg.test
    torch.manual_seed(0)
    model = ComplEx(kg.num_nodes, 2 * kg.num_relations, args.dim).eval()
    _emit({"stage": "setup", "triples": int(test.size(0)), "entities": kg.num_nodes, "complex_rank": args.dim,
           "threads": torch.get_num_threads(), "quick": args.quick})

    ours, metrics = bench_ours(kg, model, test, args.batch_size)
    _emit({"stage": "ours", "seconds": round(ours, 3), "mrr_both": metrics["both"]["mrr"],
           "mrr_tail": metrics["tail"]["mrr"], "count": metrics["both"]["count"]})

    requested = args.compare_triples if args.compare_triples is not None else (200 if args.quick else 1000)
    n_cmp = min(requested, int(test.size(0)))
    pk_seconds = pk_metrics = None
    ours_cmp, cmp_metrics = None, None
    if n_cmp == 0:
        reason = "skipped (--compare-triples 0)"
    else:
        reason = "skipped (--no-pykeen)"
        ours_cmp, cmp_metrics = bench_ours(kg, model, test[:n_cmp], args.batch_size)
        if not args.no_pykeen:
            pk_seconds, pk_metrics, reason = bench_pykeen(kg, model, test[:n_cmp], args.pykeen_batch_size)
    if pk_seconds is not None:
        _emit({"stage": "pykeen", "triples": n_cmp, "seconds": round(pk_seconds, 3), "ours_seconds":
               round(ours_cmp, 3), "mrr_tail": pk_metrics["tail"], "mrr_tail_ours": cmp_metrics["tail"]["mrr"]})
    final = {
        "eval_seconds_fb15k237": round(ours, 3),
        "pykeen_eval_seconds": None if pk_seconds is None else round(pk_seconds, 3),
        "speedup_vs_pykeen": None if pk_seconds is None else round(pk_seconds / ours_cmp, 2),
        "speedup_triples": n_cmp,
        "tail_mrr_ours": None if cmp_metrics is None else cmp_metrics["tail"]["mrr"],
        "tail_mrr_pykeen": None if pk_metrics is None else pk_metrics["tail"],
        "triples": int(test.size(0)), "sides": 2, "complex_rank": args.dim,
        "threads": torch.get_num_threads(), "quick": args.quick,
    }
    if pk_seconds is None:
        final["pykeen_reason"] = reason
    _emit(final)


if __name__ == "__main__":
    main()
