"""The job programs: what runs locally (``python -m apps.backends.jobs.train_job``,
``tune_job``, ``batch_job``), on a Databricks cluster (``cluster_job.py``) and in
SageMaker's scikit-learn image (``container_job.py``), with the code they share
(``training``: datasets, estimators, metrics; ``payloads``: a scoring request's
rows; ``profiles``: the mergeable profiles drift monitoring compares, built where
the data is; ``capture_rows``: a captured request's input rows; ``table_window``:
an inference table's window read by SQL). No Django and nothing else of the
portal: a program imports only this package, and ``job_code`` (portal side) sends each cloud program with exactly
the modules it imports.
"""
