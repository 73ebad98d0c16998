# kmm: one image for every service, the simulator and the bootstrap job.
# Build: docker build -t kmm:dev .   Run: docker run --rm kmm:dev service quoter
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY libs libs
COPY services services
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
 && pip wheel --no-cache-dir --wheel-dir /wheels /wheels/kmm-*.whl

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/tmp/numba \
    KMM_HTTP_HOST=0.0.0.0 \
    KMM_HTTP_PORT=8080
# Numeric uid/gid so Kubernetes' runAsNonRoot can verify the user without reading /etc/passwd.
RUN groupadd --system --gid 10001 kmm \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin kmm
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels kmm && rm -rf /wheels
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["kmm"]
CMD ["--help"]
