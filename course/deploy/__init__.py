"""The deployment wing (lesson 05): cheaper training, predicted memory, latency and serving.

Import the module you need: ``from course.deploy import latency, memory, peft_tuning, serve``.

* :mod:`~course.deploy.peft_tuning`: full fine-tuning, LoRA, AdaLoRA and a frozen encoder
  at one step budget;
* :mod:`~course.deploy.choice`: the spread over training seeds, and the choice of a method
  when the winner is within it;
* :mod:`~course.deploy.memory`: training memory, predicted and measured;
* :mod:`~course.deploy.latency`: latency percentiles and their plots;
* :mod:`~course.deploy.serve`: the FastAPI search service (``course serve``) and its load test;
* :mod:`~course.deploy.card`: the served model's card (``huggingface_hub.ModelCard``).
"""

__all__ = ["card", "choice", "latency", "memory", "peft_tuning", "serve"]
