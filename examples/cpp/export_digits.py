"""Export scikit-learn's digits for examples/cpp/train_mlp as OUTDIR/train.csv and OUTDIR/test.csv.

    python3 examples/cpp/export_digits.py OUTDIR

One sample per line: the label (0-9), then 64 features standardised with the training set's mean and
standard deviation. The split is the Python demo's: stratified, 25 % test, random_state 0.
"""

import os
import sys

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: export_digits.py OUTDIR")
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6  # some border pixels are always 0
    for name, features, labels in (("train", x_train, y_train), ("test", x_test, y_test)):
        rows = np.column_stack([labels, (features - mean) / std])
        # %.8g keeps float32 precision; the label column prints as an integer.
        np.savetxt(os.path.join(outdir, f"{name}.csv"), rows, delimiter=",", fmt=["%d"] + ["%.8g"] * 64)
        print(f"{outdir}/{name}.csv: {len(labels)} samples, {features.shape[1]} features")


if __name__ == "__main__":
    main()
