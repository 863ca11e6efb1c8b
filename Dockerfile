FROM python:3.11-slim
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir -e /app
EXPOSE 8112
CMD ["python", "-m", "dispatch", "serve", "--host", "0.0.0.0", "--demo"]
