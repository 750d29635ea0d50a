# The API image for docker-compose.yml (which points ECG_MONGODB_URL at its MongoDB service).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what `pip install .` needs (pyproject.toml names README.md as the long description).
COPY pyproject.toml constraints.txt README.md ./
COPY ecg_graphql ./ecg_graphql
# constraints.txt pins the whole dependency tree: the image runs the versions the tests ran.
# The source copy goes once installed, so the code that runs is the installed, read-only one.
RUN pip install -c constraints.txt . \
    && rm -rf build ./*.egg-info ecg_graphql

# Never run as root. The data directory is only written when ECG_JWT_SECRET or ECG_MONGODB_URL
# is unset (compose sets both); it is the user's own so a bare `docker run` works too.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin ecg \
    && mkdir -p /var/lib/ecg-graphql \
    && chown ecg:ecg /var/lib/ecg-graphql
USER ecg

ENV ECG_HOST=0.0.0.0 \
    ECG_PORT=8000 \
    ECG_DATA_DIR=/var/lib/ecg-graphql
EXPOSE 8000

# Exec form: the service is PID 1 and receives SIGTERM from `docker stop` itself.
CMD ["python", "-m", "ecg_graphql", "serve"]
