#!/usr/bin/env bash
# Installs what the interop kits and golden-file generator need (idempotent).
#
# usage: scripts/install-deps.sh [--fuzz]
#
#   * Debian packages (only those missing): nats-server (reference server),
#     libnats-dev + pkg-config + build-essential (C interop client), openssl
#     (TLS interop certificates),
#     python3-venv (only if `python3 -m venv` does not work), nodejs + npm
#     (only if `npm` is not on PATH), chromium (headless browser of the
#     monitoring dashboard check, interop/monitor).
#   * npm ci in interop/node (node-nats-streaming, google-protobuf, nats,
#     puppeteer-core; never downloads a browser: it drives /usr/bin/chromium).
#   * Python venvs: .venv/nats    <- interop/python/requirements-nats.txt
#                   .venv/stan    <- interop/python/requirements-stan.txt
#                   .venv/monitor <- interop/python/requirements-monitor.txt
#     (nats-py and asyncio-nats-client both provide `nats`, hence separate
#     venvs; .venv/monitor holds prometheus_client for interop/monitor).
#   * --fuzz: cargo-fuzz (cargo install --locked) if not installed.
#
# Steps already up to date are skipped: the npm and venv steps keep a stamp
# with the hash of their lock/requirements file (and the python version).
# Runs as root without sudo; uses sudo for apt only when not root.
# env: PYTHON (interpreter for the venvs, default python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

FUZZ=0
for arg in "$@"; do
    case "$arg" in
        --fuzz) FUZZ=1 ;;
        -h | --help)
            sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "install-deps: unknown argument: $arg" >&2
            exit 64
            ;;
    esac
done

log() { echo "install-deps: $*"; }

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    fi
fi

sha() { cat "$@" | sha256sum | cut -d" " -f1; }

# --- Debian packages --------------------------------------------------------

is_installed() {
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == "installed" ]]
}

APT_UPDATED=0
apt_install() {
    local missing=()
    local p
    for p in "$@"; do
        is_installed "$p" || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $(id -u) -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
        echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
        exit 1
    fi
    log "apt-get install ${missing[*]}"
    if [[ $APT_UPDATED -eq 0 ]]; then
        "${SUDO[@]}" apt-get update -qq
        APT_UPDATED=1
    fi
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

apt_install nats-server libnats-dev pkg-config build-essential
# openssl: the TLS interop kit's certificates (interop/tls/gen-certs.sh).
apt_install openssl
# Debian's Chromium (/usr/bin/chromium) for the dashboard check (puppeteer-core).
apt_install chromium
if ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
fi

PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    apt_install python3 python3-venv
    PYTHON=python3
fi
# Debian's system python needs python3-venv for ensurepip; pyenv's has it.
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    apt_install python3-venv
fi
log "apt packages present; python: $("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')"

# --- npm --------------------------------------------------------------------

NODE_DIR="$ROOT/interop/node"
NODE_STAMP="$NODE_DIR/node_modules/.install-deps.stamp"
node_hash="$(sha "$NODE_DIR/package.json" "$NODE_DIR/package-lock.json")-$(node --version)"
if [[ -f "$NODE_STAMP" && "$(cat "$NODE_STAMP")" == "$node_hash" ]]; then
    log "interop/node: node_modules up to date"
else
    log "interop/node: npm ci"
    # puppeteer-core downloads nothing; the variables make sure that no
    # browser download is ever attempted (only Debian's chromium is used).
    (cd "$NODE_DIR" && PUPPETEER_SKIP_DOWNLOAD=1 PUPPETEER_SKIP_CHROMIUM_DOWNLOAD=1 \
        npm ci --no-audit --no-fund --loglevel=error)
    echo "$node_hash" >"$NODE_STAMP"
fi

# --- Python venvs -----------------------------------------------------------

py_version="$("$PYTHON" -c 'import sys; print(".".join(map(str, sys.version_info[:3])))')"

# make_venv NAME REQUIREMENTS
make_venv() {
    local dir="$ROOT/.venv/$1" req="$ROOT/$2"
    local stamp="$dir/.install-deps.stamp"
    local want
    want="$(sha "$req")-$py_version"
    if [[ -x "$dir/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        log ".venv/$1: up to date"
        return 0
    fi
    log ".venv/$1: creating from $2"
    rm -rf "$dir"
    mkdir -p "$ROOT/.venv"
    "$PYTHON" -m venv "$dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-input -r "$req"
    echo "$want" >"$stamp"
}

make_venv nats interop/python/requirements-nats.txt
make_venv stan interop/python/requirements-stan.txt
make_venv monitor interop/python/requirements-monitor.txt

# Import checks (report, do not fail: the kits report their own problems).
if out="$("$ROOT/.venv/nats/bin/python" -c 'import importlib.metadata as m, nats.aio.client; print(m.version("nats-py"))' 2>&1)"; then
    log ".venv/nats: nats-py $out imports"
else
    log "WARNING: .venv/nats: import nats failed:"
    echo "$out" | sed 's/^/    /' >&2
fi
if out="$("$ROOT/.venv/stan/bin/python" -c 'import stan.aio.client, stan.pb.protocol_pb2, nats.aio.client; print("ok")' 2>&1)"; then
    log ".venv/stan: stan.aio.client imports"
else
    log "WARNING: .venv/stan: import stan.aio.client failed:"
    echo "$out" | sed 's/^/    /' >&2
fi

if out="$("$ROOT/.venv/monitor/bin/python" -c 'import importlib.metadata as m, prometheus_client.parser; print(m.version("prometheus-client"))' 2>&1)"; then
    log ".venv/monitor: prometheus_client $out imports"
else
    log "WARNING: .venv/monitor: import prometheus_client.parser failed:"
    echo "$out" | sed 's/^/    /' >&2
fi
# (Debian's /usr/bin/chromium wrapper may print shell noise on stderr.)
if out="$(chromium --version 2>/dev/null)"; then
    log "chromium: $out"
else
    log "WARNING: chromium --version failed:"
    chromium --version 2>&1 | sed 's/^/    /' >&2 || true
fi

# --- cargo-fuzz (optional) --------------------------------------------------

if [[ $FUZZ -eq 1 ]]; then
    if command -v cargo-fuzz >/dev/null 2>&1; then
        log "cargo-fuzz: present ($(cargo fuzz --version 2>/dev/null || echo '?'))"
    else
        log "cargo install cargo-fuzz --locked"
        cargo install cargo-fuzz --locked
    fi
fi

log "done"
