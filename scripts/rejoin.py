"""Write a finished word run's vectors again from its checkpoint with another --cross (training unchanged), into a
new run folder that scripts/compare_gensim.py --run reads: the way an export-only change is scored on old runs.

usage: python scripts/rejoin.py RUN OUT [--cross 0.2]
"""
import argparse
import json
import shutil
from pathlib import Path

import torch

from wordmore.checkpoint import load_model
from wordmore.embeddings import Embeddings, join_tables


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("out")
    ap.add_argument("--cross", type=float, default=0.2)
    args = ap.parse_args()
    model, vocab, cfg, _ = load_model(args.run)
    with torch.no_grad():
        tables = [t.float().numpy() for t in model.joined_tables()]  # (V, H) each
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("summary.json", "vocab.json"):
        shutil.copy(Path(args.run) / name, out / name)
    d = cfg.to_dict()
    d["model"]["cross"] = args.cross
    (out / "config.json").write_text(json.dumps(d, indent=1))
    emb = Embeddings(vocab.itos, join_tables(tables, args.cross), lowercase=cfg.tokenizer.lowercase, counts=vocab.counts)
    emb.save_word2vec(out / "embeddings.vec")
    print(f"{out / 'embeddings.vec'}: {len(emb)} words, {emb.dim} dims, cross {args.cross}")


if __name__ == "__main__":
    main()
