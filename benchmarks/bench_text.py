"""Benchmark: text mode. ``text_baseline`` end to end (target: <= 5 min on 2 cores, < 2 GB), and
the sampler's throughput (tokens per second for a batch, with and without top-p).

Each case runs in a fresh process so peak memory (ru_maxrss) is its own. Needs the ``text`` extra
(the installed corpus). Usage:

    python benchmarks/bench_text.py                 # everything
    python benchmarks/bench_text.py --only sampler  # the sampler only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

BASELINE = r"""
import json, resource, tempfile, time
from habsburg.experiments.text_run import run_text_scenario
from habsburg.scenarios.text_schema import load_text_scenario
sc = load_text_scenario("text_baseline")
t0 = time.perf_counter()
with tempfile.TemporaryDirectory() as out:
    r = run_text_scenario(sc, out=out + "/run")
print(json.dumps({
    "case": "text_baseline",
    "generations": sc.generations,
    "corpus_tokens": int(r.model.corpus.tokens.size),
    "vocabulary": len(r.model.corpus.vocab),
    "models": len(sc.models),
    "documents_published": len(r.model.store),
    "tokens_published": int(r.model.store.tokens.size),
    "seconds": round(time.perf_counter() - t0, 1),
    "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
}))
"""

SAMPLER = r"""
import json, time
import numpy as np
from habsburg.ecosystem.text.corpus import load_installed_corpus
from habsburg.ecosystem.text.ngram import NgramLearner
c = load_installed_corpus(max_tokens=120_000)
t0 = time.perf_counter()
m = NgramLearner(len(c.vocab)).fit(c.train_documents())
fit_s = time.perf_counter() - t0
rng = np.random.default_rng(0)
out = {"case": "sampler", "vocabulary": len(c.vocab), "fit_tokens": int(c.tokens.size),
       "fit_s": round(fit_s, 2)}
for top_p in (1.0, 0.9):
    m.top_p = top_p
    t0 = time.perf_counter()
    docs = m.sample(300, 80, rng)
    out[f"tokens_per_s_top_p_{top_p}"] = round(docs.size / (time.perf_counter() - t0))
print(json.dumps(out))
"""

CASES = {"baseline": (BASELINE, 300), "sampler": (SAMPLER, 120)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, allow_abbrev=False)
    parser.add_argument("--only", choices=sorted(CASES), default=None)
    args = parser.parse_args()
    ok = True
    for name, (code, max_s) in CASES.items():
        if args.only is not None and name != args.only:
            continue
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        seconds = result.get("seconds", 0)
        result["target_s"] = max_s
        result["ok"] = seconds <= max_s
        ok &= result["ok"]
        print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
