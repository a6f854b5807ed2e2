"""Critical layers at training time (docs/training.md): fine-tune chosen blocks and see
what changes.

- :mod:`.data`: a task's prompts and targets as training examples; the poisoned set;
- :mod:`.arms`: which blocks each arm trains or freezes, from a run's criteria;
- :mod:`.loop`: one arm's training from the shared initial weights;
- :mod:`.measures`, :mod:`.sections`: what is measured, and the result sections;
- :mod:`.memory`: the memory preflight;
- :mod:`.experiments`, :mod:`.finetune`: the experiments ``sensitivity``, ``adapt`` and
  ``backdoor``.
"""
