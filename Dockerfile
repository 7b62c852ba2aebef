# The Airflow image calsync runs on: the official image plus the pinned requirements and the calsync
# package, installed once at build time (not with _PIP_ADDITIONAL_REQUIREMENTS at every start).
FROM apache/airflow:3.3.2-python3.11

# requirements.txt pins apache-airflow itself to the image's version, so pip cannot move Airflow.
COPY --chown=airflow:0 requirements.txt constraints.txt /tmp/calsync/
RUN pip install --no-cache-dir -r /tmp/calsync/requirements.txt -c /tmp/calsync/constraints.txt

# The package gives the `calsync` command; at run time the mounted /opt/airflow/include (on PYTHONPATH)
# takes precedence, so code edits need no rebuild.
COPY --chown=airflow:0 pyproject.toml README.md /tmp/calsync/
COPY --chown=airflow:0 include /tmp/calsync/include
RUN pip install --no-cache-dir --no-deps /tmp/calsync
