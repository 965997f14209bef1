"""The wedding-day deploy gate: may a pipeline deploy now, and if not, why not.

``conditions`` phrases each blocking condition, ``alertmanager`` reads firing critical alerts,
``override`` holds an admin's emergency override, ``gate`` puts them together, ``routes``
serves them and ``command`` is the ``wedsync-deploy-gate`` command for pipelines.
"""
