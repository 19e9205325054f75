#!/usr/bin/env bash
# Render every kustomize combination under deploy/k8s and check each with scripts/k8s_check.py:
# base alone, base with each component, and each overlay. One summary line per combination;
# exits non-zero when any fails. Offline after the first run: kustomize is built once from the
# Go module proxy into a cache, PyPI's PyYAML is cached by uv.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[k8s-check]\033[0m %s\n' "$*" >&2; }

# v5.8.3 declares go 1.27; v5.8.1 builds with the Go on our machines.
KUSTOMIZE_VERSION="v5.8.1"
BIN_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/shebao/bin"
KUSTOMIZE="$BIN_DIR/kustomize"

if ! [ -x "$KUSTOMIZE" ] || [ "$("$KUSTOMIZE" version 2>/dev/null)" != "$KUSTOMIZE_VERSION" ]; then
  command -v go >/dev/null 2>&1 || { say "needs Go to build kustomize $KUSTOMIZE_VERSION"; exit 2; }
  say "building kustomize $KUSTOMIZE_VERSION into $BIN_DIR (a couple of minutes, once)"
  mkdir -p "$BIN_DIR"
  # GOTOOLCHAIN=local: use the installed Go, never download another toolchain.
  GOBIN="$BIN_DIR" GOTOOLCHAIN=local go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi

UV=$(command -v uv 2>/dev/null || echo .tools/venv/bin/uv)
CHECK=("$UV" run --quiet --no-project --with "pyyaml==6.0.3" python scripts/k8s_check.py)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0

# check NAME PROFILE DIR [COMPONENT...]: render DIR (with the components added) and check it.
check() {
  local name=$1 profile=$2 dir=$3
  shift 3
  local target=$dir args=()
  if [ $# -gt 0 ]; then
    # kustomize builds directories only: a throwaway kustomization adds the components.
    target="$work/${name//[^a-z0-9]/-}"
    mkdir -p "$target"
    {
      echo "apiVersion: kustomize.config.k8s.io/v1beta1"
      echo "kind: Kustomization"
      echo "resources: [$(realpath --relative-to="$target" "$dir")]"
      echo "components:"
      for c in "$@"; do echo "  - $(realpath --relative-to="$target" "deploy/k8s/components/$c")"; args+=(--component "$c"); done
    } >"$target/kustomization.yaml"
  fi
  if ! "$KUSTOMIZE" build "$target" >"$work/out.yaml" 2>"$work/err"; then
    echo "FAIL $name: kustomize build failed"
    sed 's/^/     /' "$work/err"
    failed=1
    return
  fi
  "${CHECK[@]}" --name "$name" --profile "$profile" "${args[@]}" <"$work/out.yaml" || failed=1
}

check base base deploy/k8s/base
for component in deploy/k8s/components/*/; do
  component=$(basename "$component")
  check "base+$component" base deploy/k8s/base "$component"
done
check overlays/dev dev deploy/k8s/overlays/dev
check overlays/production production deploy/k8s/overlays/production

if [ "$failed" != 0 ]; then
  say "some combinations failed"
  exit 1
fi
say "every combination passed"
