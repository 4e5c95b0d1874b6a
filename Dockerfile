# One image for web, worker and beat; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATA_DIR=/data
WORKDIR /app

# Pango, HarfBuzz and fontconfig for WeasyPrint's PDF reports (investigations/reports/provision.py).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md ./
COPY portal ./portal
COPY accounts ./accounts
COPY investigations ./investigations
COPY analysis ./analysis
RUN pip install --no-cache-dir .

COPY manage.py ./
COPY templates ./templates
COPY static ./static

RUN useradd --system --uid 1000 --home /app portal && mkdir -p /data && chown portal /data
USER portal
VOLUME ["/data"]
EXPOSE 8000
CMD ["gunicorn", "portal.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "300"]
