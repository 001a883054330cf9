"""evaluation/plots.py: real PNGs of the curves evaluate writes."""
import io

import numpy as np
from PIL import Image

from components.evaluation import plots


def test_each_plot_is_a_png_of_the_expected_size():
    x = np.linspace(0, 1, 20)
    for png in (plots.roc_png({"candidate": (x, x ** 0.5, 0.8)}), plots.confusion_png([[5, 1], [2, 7]]),
                plots.precision_recall_png({"candidate": (x, 1 - x, 0.7)})):
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG" and image.size[0] > 200 and image.size[1] > 200
