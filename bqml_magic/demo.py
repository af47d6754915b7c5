"""``python -m bqml_magic.demo``: classify the sample photos with BigQuery ML's own SQL.

The README's first command ends here. It builds the samples (once, into the user cache),
imports the MobileNet classifier with ``CREATE MODEL``, runs ``ML.PREDICT`` over an object
table of real photos and prints each photo's top ImageNet class, all through the SQL a user
would run in BigQuery. Then the same query on the model's TFLite and ONNX copies shows that
the three formats agree.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import pandas as pd

from bqml_magic import Engine, samples

SETUP = """
CREATE SCHEMA my_dataset;
CREATE EXTERNAL TABLE my_dataset.object_table
  WITH CONNECTION `us.my-connection`
  OPTIONS (object_metadata = 'SIMPLE', uris = ['gs://my_bucket/photos/*'])
"""

TOP_CLASS = """
SELECT uri, label AS top_class, score
FROM (
  SELECT uri, score, class_id,
         ROW_NUMBER() OVER (PARTITION BY uri ORDER BY score DESC) AS rank
  FROM ML.PREDICT(MODEL `my_dataset.{model}`,
         (SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS input_1
          FROM `my_dataset.object_table`)),
       UNNEST(predictions) AS score WITH OFFSET AS class_id
)
JOIN UNNEST(@labels) AS label WITH OFFSET AS label_id ON label_id = class_id
WHERE rank = 1
ORDER BY uri
"""

#: model_type -> the sample classifier's name in SQL
MODELS = {"TENSORFLOW": "classifier", "TENSORFLOW_LITE": "classifier_lite", "ONNX": "classifier_onnx"}


def classify(engine: Engine, built: samples.Samples, model_type: str) -> tuple[pd.DataFrame, float]:
    """Import the sample classifier in one format and return (top class per photo, seconds)."""
    model, path = MODELS[model_type], built.model_uri(model_type, "classifier")
    started = time.perf_counter()
    engine.query(f"CREATE MODEL my_dataset.{model} OPTIONS (model_type = '{model_type}', model_path = '{path}')")
    top = engine.query(TOP_CLASS.format(model=model), {"labels": built.labels})
    return top, time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bqml_magic.demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model_type",
        choices=list(MODELS),
        default="TENSORFLOW",
        help="format of the classifier to show (default: TENSORFLOW)",
    )
    parser.add_argument("--workspace", help="keep the catalog here (default: a temporary folder)")
    args = parser.parse_args(argv)

    built = samples.build()
    workspace = args.workspace or tempfile.mkdtemp(prefix="bqml_demo_")
    engine = Engine(workspace=workspace, buckets={"my_bucket": built.bucket, "my_models": built.root / "models"})
    print(f"Workspace {workspace}; gs://my_bucket -> {built.bucket}\n")
    engine.query(SETUP)
    print(TOP_CLASS.format(model=MODELS[args.model_type]).strip(), "\n")

    top, seconds = classify(engine, built, args.model_type)
    with pd.option_context("display.max_colwidth", 60, "display.width", 120):
        print(top.assign(score=top.score.round(4)).to_string(index=False))
    print(f"\n{len(top)} photos, {args.model_type} model, CREATE MODEL + ML.PREDICT in {seconds:.1f} s")

    for other in (t for t in MODELS if t != args.model_type):
        again, seconds = classify(engine, built, other)
        same = again.top_class.tolist() == top.top_class.tolist()
        gap = float(np.max(np.abs(again.score.to_numpy() - top.score.to_numpy())))
        print(
            f"{other:<16} same top classes: {'yes' if same else 'NO'}; largest score difference {gap:.1e} "
            f"({seconds:.1f} s)"
        )
    engine.close()


if __name__ == "__main__":
    main()
