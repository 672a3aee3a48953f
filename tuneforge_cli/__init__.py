"""The composition root: the ``tuneforge`` command (API, worker, beat, admin, demo, emulators).

The one package allowed to wire ``service``, ``workers`` (Celery), ``providers``, ``emulators``
and ``local_gpu`` together; nothing imports it back.
"""
