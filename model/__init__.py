"""contraband's core library: labels, text normalisation, model kinds, bundles, prediction.

Everything else in the project imports this package; it imports none of them.

    from model import Classifier
    clf = Classifier.load("default")
    clf.predict(["5g MDMA crystal 84%"])
"""

from model.bundle import BundleError
from model.classifier import Classifier, Listing, Prediction
from model.labels import LabelSet

__all__ = ["BundleError", "Classifier", "LabelSet", "Listing", "Prediction"]
__version__ = "0.1.0"
