# ps-sync's Airflow image: the official Airflow 3.3.2 image plus this repository's pinned
# requirements (same versions as the local .venv: requirements.txt under constraints.txt).
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:0 requirements.txt constraints.txt /opt/ps-sync/
RUN pip install --no-cache-dir -r /opt/ps-sync/requirements.txt -c /opt/ps-sync/constraints.txt
