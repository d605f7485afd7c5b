"""The labels wing (lesson 07): what labels cost, labels from clicks, and a model kept fresh.

Import the module you need: ``from course.labels import clicks, drift``.

* :mod:`~course.labels.frozen`: a frozen encoder with a small head, cheap enough to train
  dozens of times;
* :mod:`~course.labels.labelcost`: learning curves (what each label buys);
* :mod:`~course.labels.clicks`: click logs, position bias and inverse propensity weights;
* :mod:`~course.labels.active`: which pairs to label next;
* :mod:`~course.labels.drift`: drift detection (OOV rate, label shift, PSI), forgetting
  and replay.
"""

__all__ = ["active", "clicks", "drift", "frozen", "labelcost"]
