"""Adapters that run a :class:`phenomena.monitor.Monitor` inside other people's trainers.

- ``phenomena.integrations.lightning.ProbeCallback``: a Lightning ``Callback`` (``pip install 'phenomena[lightning]'``).
- ``phenomena.integrations.hf.ProbeCallback``: a Hugging Face ``transformers.TrainerCallback``
  (``pip install 'phenomena[hf]'``).

Each module imports its framework when it is imported (never when ``phenomena`` is), and says which extra to
install when the framework is absent. Layer rule: integrations may import ``phenomena.monitor`` and
``phenomena.api``; nothing in ``phenomena`` imports them.
"""
