"""The reusable beat classifier: bundle, prediction, export, and the final-model protocol.

Modules (the contract names below are re-exported here; the others are imported from
their module):

* ``bundle``: the bundle on disk (contract, safetensors weights, SHA-256, atomic writes).
* ``predict``: ``load_classifier`` and ``Classifier.predict_record``.
* ``export``: ONNX and TorchScript.
* ``calibration``: temperature scaling, ECE, reliability data.
* ``recipe``: ``Hyperparams``, ``Setup`` and the builders shared by tuning and training.
* ``tune``: Optuna tuning on DS1.
* ``final``: train on DS1, evaluate once on DS2, write the bundle and reports.
* ``report``: the reports and the model card.
* ``protocol``: seeds, the DS1-validation seed choice, the DS2 bootstrap, the comparison.
"""

from ecgnas.classifier.bundle import (
    BUNDLE_FILES,
    BUNDLES,
    CARD_FILE,
    CONTRACT_FILE,
    CONTRACT_KEYS,
    FORMAT_NAME,
    FORMAT_VERSION,
    WEIGHTS_FILE,
    package_versions,
    preprocessing_contract,
    read_contract,
    read_weights,
    resolve_bundle,
    save_bundle,
    sha256_file,
    ship_bundle,
    shipped_bundle_path,
    validate_contract,
)
from ecgnas.classifier.predict import BeatPredictions, Classifier, load_classifier

__all__ = [
    "BUNDLES",
    "BUNDLE_FILES",
    "CARD_FILE",
    "CONTRACT_FILE",
    "CONTRACT_KEYS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "WEIGHTS_FILE",
    "BeatPredictions",
    "Classifier",
    "load_classifier",
    "package_versions",
    "preprocessing_contract",
    "read_contract",
    "read_weights",
    "resolve_bundle",
    "save_bundle",
    "sha256_file",
    "ship_bundle",
    "shipped_bundle_path",
    "validate_contract",
]
