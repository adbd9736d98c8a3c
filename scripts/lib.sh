# Shared by scripts/run and scripts/test: install missing Debian packages.
# shellcheck shell=bash

# ensure_packages PKG… — installs the Debian packages that are not installed yet.
ensure_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "Installing missing system packages: ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
}

# Packages the hub needs to build and run (libjemalloc2: the router's allocator, Deploy/systemd).
RUNTIME_PACKAGES=(librdkafka-dev libssl-dev pkg-config postgresql libjemalloc2)
# Packages the tests need on top: clients we did not write, and a schema validator.
# chromium, chromium-driver and python3-selenium: the console's browser test (Tests/Browser).
# docker-compose: validates Deploy/compose (its `config`; no engine needed); prometheus: promtool for
# Deploy/prometheus; systemd: systemd-analyze scores the units' hardening.
TEST_PACKAGES=(kcat python3-confluent-kafka python3-jsonschema python3-yaml chromium chromium-driver python3-selenium docker-compose prometheus systemd)
# From PyPI: kubernetes-validate checks Deploy/kubernetes against the Kubernetes API's schemas (offline);
# the CloudEvents SDK for Python, with confluent-kafka for the python3 on PATH, for the interop test.
TEST_PIP_PACKAGES=(kubernetes-validate)
TEST_PIP_MODULES=(cloudevents:cloudevents confluent_kafka:confluent-kafka openapi_spec_validator:openapi-spec-validator)

# Installs PyPI packages whose command is missing (pip of the python3 on PATH, for this user).
ensure_pip_packages() {
    local missing=()
    for pkg in "$@"; do
        command -v "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "Installing missing PyPI packages: ${missing[*]}" >&2
    python3 -m pip install -q "${missing[@]}" >&2
}

# Installs PyPI packages whose module the python3 on PATH cannot import ("module:package" each).
ensure_pip_modules() {
    local missing=()
    for pair in "$@"; do
        python3 -c "import ${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "Installing missing PyPI packages: ${missing[*]}" >&2
    python3 -m pip install -q "${missing[@]}" >&2
}
