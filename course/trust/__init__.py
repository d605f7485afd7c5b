"""The trust wing (lesson 06): explanations, behavioural tests, bias and A/B tests.

Import the module you need: ``from course.trust import explain, behaviour, bias``.

* :mod:`~course.trust.explain`: attributions (Captum) and the checks that keep them honest;
* :mod:`~course.trust.behaviour`: CheckList-style tests (MFT, INV, DIR) for a relevance model;
* :mod:`~course.trust.bias`: popularity bias, exposure and a re-rank that trades it off;
* :mod:`~course.trust.abtest`: the z-test, its interval, sample size and the peeking trap;
* :mod:`~course.trust.simulate`: shoppers on a search page (position bias, purchases),
  shared with lesson 07's click logs.
"""

__all__ = ["abtest", "behaviour", "bias", "explain", "simulate"]
