"""The encodings learn from training rows only: a training row's history rate leaves out its
own fold, and a scored file's outcomes never reach its features. Hand-made files, no shared
data needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from node.risk import features, kcs

HEADER = (
    "Declaration ID,Date,Office ID,Process Type,Import Type,Import Use,Payment Type,"
    "Mode of Transport,Declarant ID,Importer ID,Seller ID,Courier ID,HS6 Code,"
    "Country of Departure,Country of Origin,Tax Rate,Tax Type,Country of Origin Indicator,"
    "Net Mass,Item Price,Fraud,Critical Fraud"
)


def _row(n: int, importer: str, fraud: int) -> str:
    return (
        f"{n},2020-01-0{1 + n % 9},30,B,11,21,11,10,D1,{importer},S1,,300490,CN,CN,8.0,A,Y,"
        f"{1 + n}.0,{1000 * (n + 1)}.0,{fraud},{fraud}"
    )


def _file(tmp_path: Path, rows: list[str], name: str = "d.csv") -> kcs.Declarations:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return kcs.read([path])


def _column(x: npt.NDArray[np.float64], name: str) -> npt.NDArray[np.float64]:
    return x[:, features.feature_names().index(name)]


def test_training_row_rate_leaves_out_its_own_fold(tmp_path: Path) -> None:
    # Row 0 is the only row of importer ONCE, and a fraud: with its own outcome in, its rate
    # would be above the prior; out of fold it is the prior, as for a stranger.
    rows = [_row(0, "ONCE", 1)] + [_row(n, "MANY", n % 2) for n in range(1, 20)]
    d = _file(tmp_path, rows)
    y = d.labels(kcs.Label.FRAUD)
    enc = features.fit(d, y)
    in_sample = _column(features.matrix(d, enc), "importer_rate")
    out_of_fold = _column(features.matrix(d, enc, out_of_fold=y), "importer_rate")
    assert in_sample[0] > enc.prior
    assert out_of_fold[0] == enc.prior
    assert _column(features.matrix(d, enc, out_of_fold=y), "importer_count")[0] == 0


def test_scored_file_outcomes_never_reach_its_features(tmp_path: Path) -> None:
    train = _file(tmp_path, [_row(n, f"I{n % 3}", n % 2) for n in range(30)], "train.csv")
    enc = features.fit(train, train.labels(kcs.Label.FRAUD))
    scored = [_row(n, f"I{n % 4}", 0) for n in range(10)]
    flipped = [line[: -len("0,0")] + "1,2" for line in scored]
    a = features.matrix(_file(tmp_path, scored, "a.csv"), enc)
    b = features.matrix(_file(tmp_path, flipped, "b.csv"), enc)
    assert np.array_equal(a, b, equal_nan=True)


def test_unseen_category_and_party_are_missing_and_strangers(tmp_path: Path) -> None:
    train = _file(tmp_path, [_row(n, "KNOWN", n % 2) for n in range(10)], "train.csv")
    enc = features.fit(train, train.labels(kcs.Label.FRAUD))
    novel = _row(99, "NEW", 0).replace(",CN,CN,", ",ZZ,ZZ,")
    x = features.matrix(_file(tmp_path, [novel], "new.csv"), enc)
    assert np.isnan(_column(x, "origin")[0])
    assert _column(x, "importer_count")[0] == 0
    assert _column(x, "importer_rate")[0] == enc.prior


def test_encodings_survive_their_json_form(tmp_path: Path) -> None:
    train = _file(tmp_path, [_row(n, f"I{n % 3}", n % 2) for n in range(12)])
    enc = features.fit(train, train.labels(kcs.Label.FRAUD))
    again = features.Encodings.from_json(enc.to_json())
    assert np.array_equal(
        features.matrix(train, enc), features.matrix(train, again), equal_nan=True
    )
