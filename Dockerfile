# Caseline: slim image, runs as a non-root user. Build: docker build -t caseline .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY caseline caseline
COPY bots bots
COPY nlu nlu
COPY flows flows
COPY safeguarding safeguarding
COPY casework casework
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 caseline && mkdir -p /data && chown caseline /data
COPY --from=build /install /usr/local
USER caseline
ENV CASELINE_HOST=0.0.0.0 CASELINE_PORT=8080 CASELINE_DATA_DIR=/data PYTHONUNBUFFERED=1
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/readyz').status != 200)"
# Train the models into the image's cache so start-up stays fast.
ENV CASELINE_CACHE_DIR=/home/caseline/model-cache
RUN python -c "from caseline.app import load_stages; from caseline.settings import load_settings; \
    load_stages(load_settings(data_dir='/tmp/warm', secret_key='x' * 40))"
CMD ["caseline", "serve"]
