"""The deployment wing (lesson 05): cheaper training, predicted memory, latency and serving.

Import the module you need: ``from course.deploy import latency, memory, peft_tuning, serve``.

* :mod:`~course.deploy.peft_tuning`: full fine-tuning, LoRA, AdaLoRA and a frozen encoder
  at one step budget;
* :mod:`~course.deploy.memory`: training memory, predicted and measured;
* :mod:`~course.deploy.latency`: latency percentiles and their plots;
* :mod:`~course.deploy.serve`: the FastAPI search service (``course serve``) and its load test.
"""

__all__ = ["latency", "memory", "peft_tuning", "serve"]
