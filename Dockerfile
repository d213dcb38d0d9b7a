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
# Train the NLU model into the image's cache so start-up stays fast.
RUN CASELINE_DATA_DIR=/tmp/warm caseline nlu train >/dev/null || true
CMD ["caseline", "serve"]
