-- Run by the postgres image on its first start (empty data volume only):
-- MLflow keeps its tracking and registry data in a database of its own.
-- compose.yaml points MLflow at this name.
CREATE DATABASE mlflow;
