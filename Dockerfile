# Almanac: image that installs the package and runs `make run`'s job, the browser app on port 8501.
#
# With a Docker engine:
#   docker build -t almanac .
#   docker run --rm -p 8501:8501 almanac                      # then open http://localhost:8501
#   # a batch forecast with the CLI instead (--user: the image user, uid 10001, may not write to ./out):
#   mkdir -p out && docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/out:/app/out" almanac \
#       almanac forecast data/ETTh1.csv --h 48 --out out/forecast.csv --plot out/forecast.html
#
# CPU image kept small: PyPI's torch==2.13.0 wheel for Linux x86_64 is the CUDA
# build and pulls ~4 GB of nvidia/cuda wheels. Pass PyTorch's CPU wheel index:
#   docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu -t almanac:cpu .
#
# CUDA image: pass a CUDA base. If it lacks python3 (>= 3.11) + venv, they are
# apt-installed below, so an Ubuntu 24.04 (Python 3.12) CUDA runtime works as is
# (Ubuntu 22.04 bases have Python 3.10, too old). Leave TORCH_INDEX_URL empty
# (PyPI's CUDA build) or use a matching CUDA index, e.g. .../whl/cu128:
#   docker build --build-arg BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 -t almanac:cuda .
#   docker run --rm --gpus all --user "$(id -u):$(id -g)" -v "$PWD/out:/app/out" almanac:cuda
#
# Build without a Docker engine (Debian bookworm host, as root; buildah/podman, chroot isolation, vfs):
#   apt-get update && apt-get install -y buildah debootstrap podman
#   # stand-in for python:3.11-slim-bookworm when the registry can't be reached
#   # (skip the debootstrap..import steps and drop --pull=never if it can):
#   debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
#       bookworm /tmp/rootfs http://deb.debian.org/debian
#   chroot /tmp/rootfs python3 -m venv /usr/local   # python, python3, pip in /usr/local/bin like the official image
#   tar -C /tmp/rootfs --numeric-owner -cf /tmp/rootfs.tar .
#   podman --storage-driver vfs import --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
#       --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' /tmp/rootfs.tar docker.io/library/python:3.11-slim-bookworm
#   # behind a TLS-intercepting proxy, also copy its CA into /tmp/rootfs/usr/local/share/ca-certificates,
#   # run `chroot /tmp/rootfs update-ca-certificates` and add --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt'
#   # no --layers here: with vfs every cached layer is a full copy of the rootfs (2.4 GB with the
#   # CPU wheel, ~6 GB with PyPI's CUDA build): tens of GB of disk for the 18 steps
#   buildah --storage-driver vfs bud --isolation chroot --pull=never -t almanac:latest .
#   # torch from a local CPU wheel (e.g. in /opt/wheels) instead of a download: serve it as a package
#   # index, with torch's own requirements beside it as PyTorch's CPU index has them, and pass that
#   # index as TORCH_INDEX_URL (chroot isolation shares the host's network, so 127.0.0.1 reaches it):
#   pip download --find-links /opt/wheels --only-binary=:all: --dest /tmp/torch-index/files torch==2.13.0
#   cd /tmp/torch-index && for w in files/*.whl; do f=${w#files/}; n=$(echo "${f%%-*}" | tr 'A-Z_.' 'a-z--'); \
#       mkdir -p "simple/$n"; echo "<a href=\"../../files/$f\">$f</a>" >> "simple/$n/index.html"; done; cd -
#   python3 -m http.server --bind 127.0.0.1 8765 --directory /tmp/torch-index &   # kill it after the build
#   buildah --storage-driver vfs bud --isolation chroot --pull=never \
#       --build-arg TORCH_INDEX_URL=http://127.0.0.1:8765/simple -t almanac:latest .
#   # run the CMD (podman run also works on hosts with cgroups/namespaces):
#   ctr=$(buildah --storage-driver vfs from almanac:latest)
#   buildah --storage-driver vfs run --isolation chroot --user app --workingdir /app "$ctr" -- \
#       almanac forecast data/ETTh1.csv --h 48 --model seasonal_naive --model ets --model theta \
#       --level 80 --level 95 --out out/forecast.csv --plot out/forecast.html
#   # the app, in the background; the host reaches it on port 8501 (no network namespace):
#   buildah --storage-driver vfs run --isolation chroot --user app --workingdir /app "$ctr" -- \
#       streamlit run app/main.py --server.headless true --server.port 8501 --server.address 0.0.0.0 &
#   curl http://localhost:8501/_stcore/health      # "ok"; stop the server with kill on streamlit's pid
#   buildah --storage-driver vfs rm "$ctr"

ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    MALLOC_ARENA_MAX=2
# MALLOC_ARENA_MAX: memory a closed app session frees goes back to the system (see app/session.py).

# Python in a venv at /opt/venv: the same on the official python image, on
# Debian/Ubuntu bases (no PEP 668 "externally-managed" error) and on CUDA bases
# (python3 + venv are installed only if the base lacks them).
RUN if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -m venv /opt/venv \
    && pip install --upgrade pip

# torch first and pinned (the heaviest layer; cached independently of the project).
# Empty TORCH_INDEX_URL = PyPI. https://download.pytorch.org/whl/cpu = CPU-only wheel (small image).
ARG TORCH_INDEX_URL=""
RUN if [ -n "$TORCH_INDEX_URL" ]; then \
        pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0; \
    else \
        pip install torch==2.13.0; \
    fi

WORKDIR /app

# Dependencies from pyproject.toml only, so editing code does not reinstall them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself.
COPY forecasting/ forecasting/
COPY backbones/ backbones/
COPY app/ app/
COPY .streamlit/ .streamlit/
COPY data/ data/
# Editable, as `make run` installs it: the bundled samples in /app/data are found beside the code.
# The build proves that a sample loads and that the language-model stack (transformers, peft and the
# bundled MiniLM, which the networks import only when used) is installed.
RUN pip install --no-deps -e . \
    && rm -rf build \
    && almanac --help > /dev/null \
    && python -c "import forecasting; forecasting.datasets.load('air_passengers')" \
    && python -c "import os, backbones.language as lm; assert os.path.isdir(lm.default_language_model())"

# Non-root user; it owns only the output folder.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app app \
    && mkdir -p /app/out \
    && chown app:app /app/out
USER app

# `make run`'s job: the browser app on port 8501. Batch jobs run the CLI instead, e.g.
#   docker run --rm -v "$PWD/out:/app/out" almanac almanac forecast data/ETTh1.csv --h 48 --out out/forecast.csv
EXPOSE 8501
CMD ["streamlit", "run", "app/main.py", "--server.headless", "true", "--server.port", "8501", \
     "--server.address", "0.0.0.0"]
